"""RTP from a sender that bursts: plain ``ffmpeg -re … -f rtp``, as a user would run it.

ffmpeg reads an 8 kHz WAV 2048 samples at a time and sends each read at once, every 256 ms:
with ``-packetsize 172`` thirteen packets (twelve of 160 bytes and one of 128), by default two
(1460 and 588 bytes, 182 and 74 ms). Every packet must play (under 1 % lost, late or
discarded, per the call's own stats) and the VAD must find the speech where the audio has it,
as with the paced sender in ``test_rtp``.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.e2e.rtp_peer import Server, Timeline, espeak, run_server, silence
from tests.e2e.test_rtp import PHRASE_A, PHRASE_B, check_speech, create_call, subscribe

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.needs_espeak,
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed"),
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed"),
    pytest.mark.timeout(120),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(tmp_path_factory.mktemp("rtp-bursts-server")) as running:
        yield running


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    tmp = tmp_path_factory.mktemp("speech")
    return {"a": espeak(PHRASE_A, tmp / "a.wav"), "b": espeak(PHRASE_B, tmp / "b.wav")}


def ffmpeg_re(wav: Path, port: int, packetsize: int | None) -> subprocess.Popen[bytes]:
    """The command line from the issue, nothing added to pace or split the packets."""
    size = [] if packetsize is None else ["-packetsize", str(packetsize)]
    return subprocess.Popen(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-re",
            "-i",
            str(wav),
            "-ar",
            "8000",
            "-ac",
            "1",
            "-acodec",
            "pcm_mulaw",
            *size,
            "-f",
            "rtp",
            f"rtp://127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("packetsize", [None, 172], ids=["default-packet-size", "packetsize-172"])
async def test_ffmpeg_re_bursts_lose_under_one_percent(
    server: Server, speech: dict[str, np.ndarray], tmp_path: Path, packetsize: int | None
) -> None:
    timeline = Timeline()
    timeline.add(silence(1.0))
    timeline.add(speech["a"], is_speech=True)
    timeline.add(silence(1.5))
    timeline.add(speech["b"], is_speech=True)
    timeline.add(silence(1.5))
    wav = tmp_path / "call.wav"
    timeline.write_wav(wav)

    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        created = await create_call(http, codec="PCMU", media_timeout_s=2.0)
        log, task = await subscribe(server, created)
        ffmpeg = ffmpeg_re(wav, created["rtp"]["port"], packetsize)
        try:
            _, stderr = await asyncio.to_thread(ffmpeg.communicate, timeout=60)
        finally:
            if ffmpeg.poll() is None:
                ffmpeg.kill()
        assert ffmpeg.returncode == 0, stderr.decode()
        await asyncio.sleep(0.5)  # the last burst plays out (it may wait up to 256 ms)
        detail = (await http.get(f"/v1/calls/{created['id']}")).json()
        await asyncio.wait_for(log.closed.wait(), 15)
        await task

    stats = detail["stats"]
    received = stats["packets_received"]
    # Every read of 2048 samples is at least one packet; more with 160-byte payloads.
    reads = len(timeline.pcm()) // 2048
    assert received >= (13 if packetsize else 2) * reads, stats
    assert stats["packets_lost"] == 0, stats
    lost = stats["late"] + stats["discarded"]
    assert lost < 0.01 * received, stats
    assert stats["played"] >= 0.99 * received, stats
    assert stats["concealed_gap_ms"] <= 0.01 * timeline.ms, stats
    check_speech(log, timeline.speech)
