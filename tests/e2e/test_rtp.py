"""RTP calls end to end: the real server (subprocess), real UDP, real peers.

- ffmpeg sends espeak-ng speech as PCMU; VAD events must match the speech in the audio, the
  call must close by media timeout after the sender stops, counters must be clean.
- A scripted sender adds loss, reordering, duplicates, junk, an intruder, a DTMF key press and
  finally an SSRC change; the counters must say exactly what happened and the intruders must
  change nothing.
- Hold: speech, 12 s of music-like tones, speech, with `silence_s` lowered: HOLD is entered
  and left, and the events say so.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.e2e.rtp_peer import (
    FRAME,
    EventLog,
    Server,
    Timeline,
    dtmf_burst,
    espeak,
    ffmpeg_send,
    g711_packets,
    run_server,
    send_paced,
    silence,
    tones,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.needs_espeak,
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed"),
    pytest.mark.timeout(120),
]

PHRASE_A = "Bom dia, eu queria consultar o saldo da minha conta."
PHRASE_B = "Obrigado, era só isso."
# How far VAD positions may sit from the speech found by level in the source audio.
START_EARLY_MS, START_LATE_MS = 400, 200
END_EARLY_MS, END_LATE_MS = 200, 500


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(tmp_path_factory.mktemp("rtp-server")) as running:
        yield running


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    tmp = tmp_path_factory.mktemp("speech")
    return {"a": espeak(PHRASE_A, tmp / "a.wav"), "b": espeak(PHRASE_B, tmp / "b.wav")}


async def create_call(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await http.post("/v1/calls", json={"language": "pt", **body})
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def subscribe(server: Server, created: dict[str, Any]) -> tuple[EventLog, asyncio.Task[None]]:
    log = EventLog()
    task = asyncio.create_task(log.run(server.ws_url(created["events_url"])))
    await asyncio.wait_for(log.opened.wait(), 10)
    return log, task


def check_speech(log: EventLog, speech: list[tuple[float, float]]) -> None:
    """One speech_start/speech_end pair per utterance, near where the audio has it."""
    starts = [e["audio_ms"] for e in log.of("vad.speech_start")]
    ends = [e["audio_ms"] for e in log.of("vad.speech_end")]
    assert len(starts) == len(ends) == len(speech), (starts, ends, speech)
    for start, end, (onset, offset) in zip(starts, ends, speech, strict=True):
        assert onset - START_EARLY_MS <= start <= onset + START_LATE_MS, (start, onset)
        assert offset - END_EARLY_MS <= end <= offset + END_LATE_MS, (end, offset)


def transitions(log: EventLog) -> list[tuple[str, str]]:
    return [(e["from"], e["to"]) for e in log.of("session.state")]


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
async def test_ffmpeg_pcmu_speech_events_and_media_timeout(
    server: Server, speech: dict[str, np.ndarray], tmp_path: Path
) -> None:
    timeline = Timeline()
    timeline.add(silence(1.0))
    timeline.add(speech["a"], is_speech=True)
    timeline.add(silence(1.5))
    timeline.add(speech["b"], is_speech=True)
    timeline.add(silence(1.5))
    wav = tmp_path / "call.wav"
    timeline.write_wav(wav)
    packets = len(timeline.pcm()) // FRAME

    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        created = await create_call(http, codec="PCMU", media_timeout_s=2.0)
        assert created["rtp"]["host"] == "127.0.0.1"
        assert server.rtp_range[0] <= created["rtp"]["port"] <= server.rtp_range[1]
        log, task = await subscribe(server, created)
        ffmpeg = ffmpeg_send(wav, created["rtp"]["port"])
        try:
            _, stderr = await asyncio.to_thread(ffmpeg.communicate, timeout=60)
        finally:
            if ffmpeg.poll() is None:
                ffmpeg.kill()
        assert ffmpeg.returncode == 0, stderr.decode()
        detail = (await http.get(f"/v1/calls/{created['id']}")).json()
        await asyncio.wait_for(log.closed.wait(), 15)
        await task

    assert "stats" in detail, (detail, log.events)
    stats = detail["stats"]
    assert detail["codec"] == "PCMU"
    assert stats["packets_received"] == packets
    assert stats["packets_lost"] == 0
    assert stats["packets_rejected"] == 0
    assert stats["packets_malformed"] == 0
    check_speech(log, timeline.speech)
    assert log.types()[0] == "session.created"
    assert transitions(log)[:3] == [
        ("init", "silence"),
        ("silence", "active"),
        ("active", "silence"),
    ]
    closed = log.events[-1]
    assert closed["type"] == "session.closed"
    assert closed["reason"] == "media_timeout"
    # The port went back to the pool: the call is gone and the port can be bound.
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        assert (await http.get(f"/v1/calls/{created['id']}")).status_code == 404
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind(("127.0.0.1", created["rtp"]["port"]))


@dataclass
class Script:
    """What the scripted sender sends in each 20 ms slot, and the impairments it contains."""

    slots: list[list[bytes]]
    lost: set[int]
    duplicated: set[int]
    swapped: list[int]
    junk: list[int]
    rejected_tail: int  # packets with a new SSRC after the audio


def impaired(timeline: Timeline) -> Script:
    ssrc, seq0, ts0 = 0x5EED1234, 65000, 2**32 - 20000  # both wrap during the call
    audio = g711_packets(timeline.pcm(), ssrc=ssrc, sequence=seq0, timestamp=ts0)
    count = len(audio)
    lost = {30, 31, 140, count - 20}
    duplicated = {50, 51, 160}
    swapped = [100, 180]  # each pair (i, i + 1) is sent as (i + 1, i)
    slots: list[list[bytes]] = [[] if i in lost else [p] for i, p in enumerate(audio)]
    for i in duplicated:
        slots[i].append(audio[i])
    for i in swapped:
        slots[i], slots[i + 1] = slots[i + 1], slots[i]
    # A key press in the silence between the phrases: as a PBX does, its packets take the
    # place of audio packets (and their sequence numbers); the event's timestamp is its start.
    press = int((timeline.speech[0][1] + timeline.speech[1][0]) / 2 / 20)
    burst = dtmf_burst(5, ssrc=ssrc, sequence=seq0 + press, timestamp=ts0 + press * FRAME)
    for k, packet in enumerate(burst):
        slots[press + k] = [packet]
    junk = list(range(10, count, 40))
    for i in junk:
        slots[i].append(b"\x00\x01 definitely not RTP")
    # After the audio: 1 s of the same source with a new SSRC (rejected, never played).
    tail = g711_packets(silence(1.0), ssrc=ssrc + 1, sequence=seq0 + count, timestamp=0)
    slots.extend([p] for p in tail)
    return Script(slots, lost, duplicated, swapped, junk, len(tail))


async def test_scripted_sender_impairments_are_counted_and_harmless(
    server: Server, speech: dict[str, np.ndarray]
) -> None:
    timeline = Timeline()
    timeline.add(silence(0.8))
    timeline.add(speech["a"], is_speech=True)
    timeline.add(silence(1.6))
    timeline.add(speech["b"], is_speech=True)
    timeline.add(silence(1.4))
    script = impaired(timeline)
    # An intruder streams speech (in sequence, its own SSRC) from the 6th slot on: had it
    # reached the VAD, speech would start in the silences.
    chatter = g711_packets(np.tile(speech["b"], 6), ssrc=0xBAD, sequence=7, timestamp=0)
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as intruder,
    ):
        peer.bind(("127.0.0.1", 0))
        intruder.bind(("127.0.0.1", 0))
        extra = {i: [(intruder, chatter[i % len(chatter)])] for i in range(5, len(script.slots))}
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            created = await create_call(http, codec="PCMU", media_timeout_s=1.5)
            log, task = await subscribe(server, created)
            await send_paced(peer, created["rtp"]["port"], script.slots, extra)
            detail = (await http.get(f"/v1/calls/{created['id']}")).json()
            await asyncio.wait_for(log.closed.wait(), 15)
            await task

    stats = detail["stats"]
    assert stats["packets_lost"] == len(script.lost)
    assert stats["duplicate"] == len(script.duplicated)
    assert stats["reordered"] == len(script.swapped)
    assert stats["packets_malformed"] == len(script.junk)
    assert stats["packets_rejected"] == len(extra) + script.rejected_tail
    check_speech(log, timeline.speech)
    assert [e["digit"] for e in log.of("dtmf")] == ["5"]
    assert log.events[-1]["type"] == "session.closed"
    assert log.events[-1]["reason"] == "media_timeout"


@pytest.mark.slow
async def test_hold_is_entered_and_left(server: Server, speech: dict[str, np.ndarray]) -> None:
    timeline = Timeline()
    timeline.add(silence(0.6))
    timeline.add(speech["a"], is_speech=True)
    timeline.add(silence(0.4))
    timeline.add(tones(12.0))
    timeline.add(silence(0.4))
    timeline.add(speech["b"], is_speech=True)
    timeline.add(silence(1.0))
    packets = g711_packets(timeline.pcm(), ssrc=0xAB, sequence=1, timestamp=0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            created = await create_call(
                http, codec="PCMU", media_timeout_s=1.0, timeouts={"silence_s": 4.0}
            )
            log, task = await subscribe(server, created)
            await send_paced(peer, created["rtp"]["port"], [[p] for p in packets])
            await asyncio.wait_for(log.closed.wait(), 15)
            await task

    check_speech(log, timeline.speech)
    assert ("silence", "hold") in transitions(log)
    assert ("hold", "active") in transitions(log)
    hold = log.of("session.hold")
    assert len(hold) == 1
    # HOLD begins silence_s after the first speech ended, while the tones play.
    assert timeline.speech[0][1] + 4000 - 500 <= hold[0]["audio_ms"] <= timeline.speech[1][0]
