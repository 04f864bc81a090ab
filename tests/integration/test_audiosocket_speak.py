"""TTS into an AudioSocket call: slin frames at the caller's rate, 20 ms each, paced."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from mediaserver.calls.manager import CallManager
from mediaserver.codecs.audiosocket import Audio, AudioSocketParser, encode_audio, encode_uuid
from mediaserver.config import AudioSocketSettings, Settings
from mediaserver.observability import Metrics
from mediaserver.transports.audiosocket import AudioSocketServer
from tests.integration.speak_support import collect, wait_for
from tests.unit.calls.speaker_fakes import ToneSynthesizer, until

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("rate", [8000, 16000])
async def test_audiosocket_peer_hears_paced_slin_frames(settings: Settings, rate: int) -> None:
    metrics = Metrics()
    manager = CallManager(settings, metrics)
    manager.synthesizer = ToneSynthesizer(seconds=0.5, rate=22050)
    await manager.start()
    server = AudioSocketServer(AudioSocketSettings(host="127.0.0.1"), manager, metrics)
    await server.start(port=0)
    call_id = uuid.uuid4()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(encode_uuid(call_id) + encode_audio(bytes(rate // 50 * 2), rate))
        await writer.drain()
        await until(lambda: bool(manager.calls()), 5)
        [call] = manager.calls()
        events: list[dict[str, Any]] = []
        watcher = asyncio.create_task(collect(call, events))
        call.speaker.speak("Olá, em que posso ajudar?")
        parser = AudioSocketParser()
        frames: list[tuple[float, Audio]] = []
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(10):
            while len(frames) < 25:
                for message in parser.feed(await reader.read(65536)):
                    if isinstance(message, Audio):
                        frames.append((loop.time(), message))
        await wait_for(events, "tts.speaking_end")
        assert {m.sample_rate for _, m in frames} == {rate}
        assert {len(m.pcm) for _, m in frames} == {rate // 50 * 2}
        assert frames[-1][0] - frames[0][0] > 0.4  # 25 frames over ~0.48 s: paced
        assert call.info(detail=True)["stats"]["frames_sent"] == 25
        assert not call.muted
        watcher.cancel()
    finally:
        writer.close()
        await manager.stop(drain_s=2.0)
        await server.stop()
