"""RTP output pacing of in-call TTS: how far packets land from the 20 ms grid.

    python benchmarks/tts_pacing.py [--calls 50] [--seconds 5]

The server side runs in this process as in production: the call manager (Silero VAD ticker
included), the RTP transport, one `Speaker` per call, the endpoint's deadline-paced
`RtpSender`. A second process plays 50 PBX legs: one UDP socket per call streaming µ-law
silence on 20 ms deadlines (so every call latches and its input path keeps working) and
recording the arrival time of every packet the server sends back. Once every call has latched,
all calls are told to speak at once (`--seconds` of audio each, from a synthetic synthesizer
delivering 24 kHz chunks clause by clause, so only the pacing is measured, not a TTS engine).

Figure: per call, each packet's deviation from that call's 20 ms grid (anchored at the median
offset of its packets, so a constant delay is not counted); printed as p50/p99/max over every
packet of every call. Target: p99 <= 5 ms. Measured at the receiver on loopback, the figure
includes the receiving process's own scheduling, so it is an upper bound on the send jitter.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import multiprocessing as mp
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mediaserver.calls.audio_sink import NoAudioPath
from mediaserver.calls.manager import Call, CallManager
from mediaserver.codecs.g711 import ulaw_encode
from mediaserver.codecs.rtp import RtpPacket
from mediaserver.config import load_settings
from mediaserver.observability import Metrics
from mediaserver.transports.rtp.transport import RtpTransport

FRAME = 160  # 20 ms at 8 kHz
TTS_RATE = 24_000


class ClauseSynthesizer:
    """`seconds` of a tone at 24 kHz in 0.5 s chunks, 30 ms of 'synthesis' apart."""

    def __init__(self, seconds: float) -> None:
        t = np.arange(round(seconds * TTS_RATE)) / TTS_RATE
        self._pcm = (np.sin(2 * np.pi * 300 * t) * 8000).astype("<i2").tobytes()

    async def stream(
        self, text: str, voice: str | None, speed: float
    ) -> AsyncIterator[tuple[bytes, int]]:
        step = TTS_RATE  # 0.5 s of int16
        for offset in range(0, len(self._pcm), step):
            await asyncio.sleep(0.03)
            yield self._pcm[offset : offset + step], TTS_RATE


# -- the PBX side (its own process) ----------------------------------------------------------


class _Leg(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.arrivals.append(time.monotonic())


async def _pbx(ports: list[int], seconds: float, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    legs: list[_Leg] = []
    for _ in ports:
        _, leg = await loop.create_datagram_endpoint(_Leg, local_addr=("127.0.0.1", 0))
        legs.append(leg)
    silence = ulaw_encode(bytes(FRAME * 2))
    start = loop.time()
    n = 0
    pipe.send("sending")
    stop_after: float | None = None
    while True:
        for index, (leg, port) in enumerate(zip(legs, ports, strict=True)):
            packet = RtpPacket(0, n & 0xFFFF, n * FRAME, 0x1000 + index, payload=silence)
            assert leg.transport is not None
            leg.transport.sendto(bytes(packet), ("127.0.0.1", port))
        n += 1
        if stop_after is None and pipe.poll():
            pipe.recv()  # the server says: every call has finished speaking
            stop_after = loop.time() + 0.2
        if stop_after is not None and loop.time() >= stop_after:
            break
        if loop.time() - start > seconds + 60:
            break
        await asyncio.sleep(max(0.0, start + n * 0.02 - loop.time()))
    pipe.send([leg.arrivals for leg in legs])


def pbx_main(ports: list[int], seconds: float, pipe: Connection) -> None:
    asyncio.run(_pbx(ports, seconds, pipe))


# -- the server side -------------------------------------------------------------------------


async def _until_latched(calls: list[Call]) -> None:
    pending = list(calls)
    for _ in range(1000):
        still = []
        for call in pending:
            try:
                call.speaker.sink()
            except NoAudioPath:
                still.append(call)
        pending = still
        if not pending:
            return
        await asyncio.sleep(0.01)
    raise RuntimeError(f"{len(pending)} calls never latched")


def _record_sends(rtp: RtpTransport, call: Call) -> list[float]:
    """Wrap the call's RTP sender to note when each packet is handed to the socket."""
    loop = asyncio.get_running_loop()
    queue = rtp.endpoint_for(call.id).sender()._queue
    send = queue._send  # the socket write; benchmark-only instrumentation
    times: list[float] = []

    def timed(packet: bytes) -> object:
        times.append(loop.time())
        return send(packet)

    queue._send = timed
    return times


async def _speak_all(calls: list[Call]) -> None:
    subscriptions = [call.subscribe() for call in calls]
    for call in calls:
        call.speaker.speak("Seu saldo é de dez reais.")

    async def until_end(index: int) -> None:
        async for event in subscriptions[index]:
            if event["type"] == "tts.speaking_end":
                return

    await asyncio.gather(*(until_end(i) for i in range(len(calls))))
    for sub in subscriptions:
        sub.close()


async def run(calls: int, seconds: float) -> tuple[list[list[float]], list[list[float]]]:
    models = tempfile.mkdtemp(prefix="tts-pacing-")
    settings = load_settings(
        environ={
            "MEDIASERVER_MODELS_DIR": models,
            "MEDIASERVER_POSTPROCESS__NEMO": "false",
            "MEDIASERVER_AUDIOSOCKET__ENABLED": "false",
        }
    )
    low = random.randrange(42000, 50000)
    rtp_settings = dataclasses.replace(settings.rtp, port_min=low, port_max=low + calls + 20)
    metrics = Metrics()
    manager = CallManager(settings, metrics)
    manager.synthesizer = ClauseSynthesizer(seconds)
    await manager.start()
    rtp = RtpTransport(rtp_settings, manager, metrics)
    opened = [await rtp.open_call({"codec": "PCMU"}) for _ in range(calls)]
    parent, child = mp.Pipe()
    pbx = mp.get_context("spawn").Process(
        target=pbx_main, args=([o.port for o in opened], seconds, child)
    )
    pbx.start()
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(None, parent.recv)  # "sending"
        await _until_latched([o.call for o in opened])
        sends = [_record_sends(rtp, o.call) for o in opened]
        await _speak_all([o.call for o in opened])
        parent.send("done")
        arrivals: list[list[float]] = await loop.run_in_executor(None, parent.recv)
    finally:
        await loop.run_in_executor(None, pbx.join, 30)
        await manager.stop(drain_s=5.0)
        await rtp.close()
    return sends, arrivals


def deviations_ms(arrivals: list[float]) -> np.ndarray:
    at = np.asarray(arrivals)
    offsets = at - 0.02 * np.arange(len(at))
    return np.abs(offsets - np.median(offsets)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    sends, arrivals = asyncio.run(run(args.calls, args.seconds))
    expected = round(args.seconds * 50)
    counts = [len(a) for a in arrivals]
    print(f"calls: {args.calls} speaking {args.seconds:g} s each at once (PCMU, 20 ms packets)")
    print(
        f"packets received per call: median {statistics.median(counts):g} "
        f"(expected ~{expected}), min {min(counts)}, max {max(counts)}"
    )
    for name, per_call in (("sent (server socket)", sends), ("received (PBX process)", arrivals)):
        dev = np.concatenate([deviations_ms(a) for a in per_call if len(a) > 1])
        p50, p99 = np.percentile(dev, [50, 99])
        print(
            f"{name:>24}: deviation from the 20 ms grid p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
            f"max {dev.max():.2f} ms   (target p99 <= 5 ms)"
        )


if __name__ == "__main__":
    main()
