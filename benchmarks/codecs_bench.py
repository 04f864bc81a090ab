"""Per-packet cost of the wire codecs, in µs per 20 ms packet (8 kHz G.711, 160 samples).

Run: ``python benchmarks/codecs_bench.py [--repeats 7] [--packets 20000]``. Each figure is
the median over ``repeats`` runs of ``packets`` packets, timed with ``time.perf_counter_ns``.
The ``bench_*`` functions return that figure so the media pipeline benchmark can import them.
"""

from __future__ import annotations

import argparse
import math
import statistics
import struct
import time
from collections.abc import Callable

from mediaserver.codecs.dtmf import DtmfDetector, TelephoneEvent
from mediaserver.codecs.g711 import alaw_encode, ulaw_decode, ulaw_encode
from mediaserver.codecs.jitter import JitterBuffer
from mediaserver.codecs.rtp import RtpPacket

RATE = 8000
SAMPLES = 160  # 20 ms
PTIME = SAMPLES / RATE


def sine_pcm(samples: int = SAMPLES, frequency: float = 440.0, start: int = 0) -> bytes:
    values = [
        int(8000 * math.sin(2 * math.pi * frequency * (start + i) / RATE)) for i in range(samples)
    ]
    return struct.pack(f"<{samples}h", *values)


def rtp_packets(count: int) -> list[bytes]:
    """A PCMU stream as it comes off the wire."""
    payload = ulaw_encode(sine_pcm())
    return [
        bytes(
            RtpPacket(
                payload_type=0,
                sequence_number=i & 0xFFFF,
                timestamp=(i * SAMPLES) & 0xFFFFFFFF,
                ssrc=0x12345678,
                payload=payload,
            )
        )
        for i in range(count)
    ]


def median_us_per_item(run: Callable[[], int], repeats: int) -> float:
    """Median over ``repeats`` calls of ``run`` (which returns how many items it did)."""
    figures = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        items = run()
        figures.append((time.perf_counter_ns() - start) / 1000 / items)
    return statistics.median(figures)


def bench_rtp_parse(packets: int = 20_000, repeats: int = 7) -> float:
    data = rtp_packets(packets)
    parse = RtpPacket.parse

    def run() -> int:
        for packet in data:
            parse(packet)
        return len(data)

    return median_us_per_item(run, repeats)


def bench_rtp_serialize(packets: int = 20_000, repeats: int = 7) -> float:
    objects = [RtpPacket.parse(p) for p in rtp_packets(packets)]

    def run() -> int:
        for packet in objects:
            bytes(packet)
        return len(objects)

    return median_us_per_item(run, repeats)


def bench_ulaw_decode(packets: int = 20_000, repeats: int = 7) -> float:
    payload = ulaw_encode(sine_pcm())

    def run() -> int:
        for _ in range(packets):
            ulaw_decode(payload)
        return packets

    return median_us_per_item(run, repeats)


def bench_encode(encode: Callable[[bytes], bytes], packets: int, repeats: int) -> float:
    pcm = sine_pcm()

    def run() -> int:
        for _ in range(packets):
            encode(pcm)
        return packets

    return median_us_per_item(run, repeats)


def bench_jitter(packets: int = 20_000, repeats: int = 7) -> float:
    """push + pop of one packet, in order, one pop per packet (the steady state)."""
    pcm = sine_pcm()

    def run() -> int:
        buffer = JitterBuffer(RATE)
        push, pop = buffer.push, buffer.pop
        for i in range(packets):
            now = i * PTIME
            push(i & 0xFFFF, i * SAMPLES, 1, pcm, now)
            pop(now)
        return packets

    return median_us_per_item(run, repeats)


def bench_jitter_lossy(packets: int = 20_000, repeats: int = 7) -> float:
    """push + pop with every 10th packet lost and every 7th pair swapped (concealment runs)."""
    pcm = sine_pcm()
    order = [i for i in range(packets) if i % 10 != 5]
    for j in range(0, len(order) - 1, 7):
        order[j], order[j + 1] = order[j + 1], order[j]

    def run() -> int:
        buffer = JitterBuffer(RATE)
        for step, i in enumerate(order):
            now = step * PTIME
            buffer.push(i & 0xFFFF, i * SAMPLES, 1, pcm, now)
            buffer.pop(now)
        return len(order)

    return median_us_per_item(run, repeats)


def bench_dtmf(packets: int = 20_000, repeats: int = 7) -> float:
    payloads = [bytes(TelephoneEvent(5, i % 8 >= 5, 10, 160 * (i % 8))) for i in range(8)]

    def run() -> int:
        detector = DtmfDetector()
        for i in range(packets):
            detector.feed((i // 8) * 1600, payloads[i % 8])
        return packets

    return median_us_per_item(run, repeats)


def bench_pipeline(packets: int = 20_000, repeats: int = 7) -> float:
    """Wire bytes to paced PCM: parse + µ-law decode + jitter push + pop."""
    data = rtp_packets(packets)

    def run() -> int:
        buffer = JitterBuffer(RATE)
        for i, raw in enumerate(data):
            now = i * PTIME
            packet = RtpPacket.parse(raw)
            buffer.push(
                packet.sequence_number,
                packet.timestamp,
                packet.ssrc,
                ulaw_decode(packet.payload),
                now,
                packet.payload_type,
            )
            buffer.pop(now)
        return len(data)

    return median_us_per_item(run, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--packets", type=int, default=20_000)
    args = parser.parse_args()
    n, r = args.packets, args.repeats
    rows = [
        ("rtp parse", bench_rtp_parse(n, r)),
        ("rtp serialize", bench_rtp_serialize(n, r)),
        ("g711 ulaw decode", bench_ulaw_decode(n, r)),
        ("g711 ulaw encode", bench_encode(ulaw_encode, n, r)),
        ("g711 alaw encode", bench_encode(alaw_encode, n, r)),
        ("jitter push+pop (clean)", bench_jitter(n, r)),
        ("jitter push+pop (10% loss, reorder)", bench_jitter_lossy(n, r)),
        ("dtmf feed", bench_dtmf(n, r)),
        ("parse+decode+jitter (total)", bench_pipeline(n, r)),
    ]
    print(f"codecs: µs per 20 ms packet, median of {r} runs x {n} packets")
    for name, figure in rows:
        print(f"  {name:<38} {figure:7.2f}")


if __name__ == "__main__":
    main()
