"""What one 20 ms frame of a G.711 call costs, stage by stage and end to end, and what that
means in calls per core.

    python benchmarks/media_pipeline.py [--seconds 4] [--repeats 5] [--quick]

Audio: one side of a bank call, pt-BR utterances from espeak-ng each followed by as much line
noise (about half speech, half silence), µ-law encoded into 20 ms RTP packets, so the VAD's
pre-filter meets what it meets in a real call. Figures are medians over repeats of CPU time
(`time.process_time`) per call per 20 ms frame.

1. Stages in isolation, on one call: RTP parse, jitter push+pop, G.711 decode, resample
   8k->16k (or RNNoise denoise 8k->48k->16k), DC removal + gain, VAD (one stream), and the
   call's ring buffer + session bookkeeping (`Session.push_audio` / `push_vad` / acks / timers).
2. VAD batched over B calls (B = 1, 10, 50, 100, 200), per call.
3. The whole chain, end to end, for N calls per 20 ms tick: parse -> decode -> jitter ->
   Preprocessor -> VadStream.feed for every call, one VadBatcher.run for all of them, then each
   call's VAD events and audio into its Session. Calls are staggered in the audio so they are
   not in step. Calls per core = 20 ms / the per-call cost.
4. The wall time of the simulated 30-minute call of the session tests, driven through
   `Session` with injected time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from _common import RATE, call_audio, frames, median_us

from mediaserver.audio.denoise import Denoiser
from mediaserver.audio.events import VadEvent
from mediaserver.audio.levels import DcBlocker, GainNormalizer
from mediaserver.audio.pcm import to_pcm16
from mediaserver.audio.pipeline import Preprocessor
from mediaserver.audio.resample import Resampler
from mediaserver.audio.silero import SileroModel
from mediaserver.audio.vad import VadBatcher, VadStream
from mediaserver.codecs.g711 import ulaw_decode, ulaw_encode
from mediaserver.codecs.jitter import JitterBuffer
from mediaserver.codecs.rtp import RtpPacket
from mediaserver.config import AudioSettings, SessionSettings
from mediaserver.session.events import CommitSegment, Event
from mediaserver.session.session import Session

WIRE_RATE = 8000
WIRE_FRAME = WIRE_RATE // 50  # 160 samples, 20 ms
PTIME = 0.02
BUDGET_US = 20_000.0  # one core for 20 ms: calls per core = BUDGET_US / µs per call
TARGET_US = 60.0
BATCHES = (1, 10, 50, 100, 200)


# -- the wire --------------------------------------------------------------------------------


def payloads(pcm8k: np.ndarray) -> list[bytes]:
    return [ulaw_encode(f.tobytes()) for f in frames(pcm8k, WIRE_FRAME)]


def rtp_stream(payload_list: list[bytes], count: int, offset: int, ssrc: int) -> list[bytes]:
    """`count` PCMU packets of one call starting `offset` frames into the audio (looping)."""
    header = bytearray(12)
    header[0], header[1] = 0x80, 0  # version 2, payload type 0 (PCMU)
    header[8:12] = ssrc.to_bytes(4, "big")
    out = []
    seq0, ts0 = (ssrc * 7919) & 0xFFFF, (ssrc * 104729) & 0xFFFFFFFF
    for i in range(count):
        header[2:4] = ((seq0 + i) & 0xFFFF).to_bytes(2, "big")
        header[4:8] = ((ts0 + i * WIRE_FRAME) & 0xFFFFFFFF).to_bytes(4, "big")
        out.append(bytes(header) + payload_list[(offset + i) % len(payload_list)])
    return out


# -- one call, end to end --------------------------------------------------------------------


@dataclass
class Call:
    """One call's media state, as the server holds it."""

    jitter: JitterBuffer
    pre: Preprocessor
    vad: VadStream
    session: Session
    packets: list[bytes]
    audio: list[np.ndarray] = field(default_factory=list)  # 16 kHz audio of this tick
    to_ack: list[int] = field(default_factory=list)  # finals the fake engine delivers next tick

    @classmethod
    def start(cls, index: int, packets: list[bytes], denoise: bool) -> Call:
        return cls(
            JitterBuffer(WIRE_RATE),
            Preprocessor(WIRE_RATE, AudioSettings(denoise=denoise)),
            VadStream(),
            Session(f"call-{index}", SessionSettings(), now=0.0),
            packets,
        )

    def receive(self, tick: int, now: float) -> None:
        """Wire to VAD input: parse, decode, jitter, front end, pre-filter."""
        packet = RtpPacket.parse(self.packets[tick])
        self.jitter.push(
            packet.sequence_number,
            packet.timestamp,
            packet.ssrc,
            ulaw_decode(packet.payload),
            now,
            packet.payload_type,
        )
        for frame in self.jitter.pop(now):
            pcm16k = self.pre.process(np.frombuffer(frame.pcm, np.int16))
            self.vad.feed(pcm16k)
            self.audio.append(pcm16k)

    def settle(self, now: float) -> None:
        """After the batched VAD: audio and decisions into the session, engine finals, timers."""
        session = self.session
        events: list[Event] = []
        for segment_id in self.to_ack:
            events += session.ack_commit(segment_id, now)
        self.to_ack.clear()
        deadline = session.next_deadline()
        if deadline is not None and deadline <= now:
            events += session.tick(now)
        for pcm16k in self.audio:
            events += session.push_audio(pcm16k, now)
        self.audio.clear()
        events += session.push_vad(self.vad.events(), now)
        self.to_ack += [e.segment_id for e in events if isinstance(e, CommitSegment)]


def run_calls(
    model: SileroModel,
    payload_list: list[bytes],
    n_calls: int,
    ticks: int,
    denoise: bool,
    repeats: int,
) -> tuple[float, float]:
    """µs CPU per call per 20 ms frame, end to end; and the share of VAD chunks the pre-filter
    decided without the network."""
    spacing = max(1, len(payload_list) // max(n_calls, 1))
    streams = [
        rtp_stream(payload_list, ticks, offset=(i * spacing) % len(payload_list), ssrc=i + 1)
        for i in range(n_calls)
    ]
    timings: list[float] = []
    skipped_share = 0.0
    for _ in range(repeats):
        calls = [Call.start(i, packets, denoise) for i, packets in enumerate(streams)]
        batcher = VadBatcher(model)
        vads = [call.vad for call in calls]
        start = time.process_time()
        for tick in range(ticks):
            now = tick * PTIME
            for call in calls:
                call.receive(tick, now)
            batcher.run(vads)
            for call in calls:
                call.settle(now)
        timings.append(time.process_time() - start)
        skipped = sum(v.skipped_chunks for v in vads)
        skipped_share = skipped / max(1, skipped + sum(v.inferred_chunks for v in vads))
        for call in calls:
            call.pre.close()
    return statistics.median(timings) / (ticks * n_calls) * 1e6, skipped_share


# -- stages in isolation ---------------------------------------------------------------------


@dataclass
class Trace:
    """One call played through the chain once: what each stage gets as input."""

    packets: list[bytes]
    decoded: list[bytes]  # PCM16 at 8 kHz, per packet
    wire_pcm: list[np.ndarray]  # int16 at 8 kHz, per 20 ms
    float16k: list[np.ndarray]  # resampled, before the level stages
    pcm16k: list[np.ndarray]  # Preprocessor output
    vad_events: list[list[VadEvent]]  # per frame, after the batcher


def trace(model: SileroModel, payload_list: list[bytes], ticks: int) -> Trace:
    packets = rtp_stream(payload_list, ticks, offset=0, ssrc=1)
    decoded = [ulaw_decode(RtpPacket.parse(p).payload) for p in packets]
    wire_pcm = [np.frombuffer(d, np.int16) for d in decoded]
    resampler = Resampler(WIRE_RATE, RATE, dtype=np.float32)
    float16k = [resampler.process(f.astype(np.float32)) for f in wire_pcm]
    pre = Preprocessor(WIRE_RATE)
    pcm16k = [pre.process(f) for f in wire_pcm]
    stream, batcher = VadStream(), VadBatcher(model, max_batch=1)
    vad_events = []
    for pcm in pcm16k:
        stream.feed(pcm)
        batcher.run((stream,))
        vad_events.append(stream.events())
    return Trace(packets, decoded, wire_pcm, float16k, pcm16k, vad_events)


def stage_costs(model: SileroModel, t: Trace, repeats: int) -> dict[str, float]:
    n = len(t.packets)
    payload_list = [RtpPacket.parse(p).payload for p in t.packets]

    def parse() -> int:
        for raw in t.packets:
            RtpPacket.parse(raw)
        return n

    def jitter() -> int:
        buffer = JitterBuffer(WIRE_RATE)
        for i, pcm in enumerate(t.decoded):
            now = i * PTIME
            buffer.push(i & 0xFFFF, i * WIRE_FRAME, 1, pcm, now, 0)
            buffer.pop(now)
        return n

    def decode() -> int:
        for payload in payload_list:
            ulaw_decode(payload)
        return n

    def resample() -> int:
        resampler = Resampler(WIRE_RATE, RATE, dtype=np.float32)
        for pcm in t.wire_pcm:
            resampler.process(pcm.astype(np.float32))
        return n

    def levels() -> int:
        dc, gain = DcBlocker(RATE), GainNormalizer(RATE)
        for x in t.float16k:
            to_pcm16(gain.apply(dc.apply(x.copy())))
        return n

    def vad() -> int:
        stream, batcher = VadStream(), VadBatcher(model, max_batch=1)
        for pcm in t.pcm16k:
            stream.feed(pcm)
            batcher.run((stream,))
            stream.events()
        return n

    def session() -> int:
        s = Session("bench", SessionSettings(), now=0.0)
        to_ack: list[int] = []
        for i, (pcm, events) in enumerate(zip(t.pcm16k, t.vad_events, strict=True)):
            now = i * PTIME
            out: list[Event] = []
            for segment_id in to_ack:
                out += s.ack_commit(segment_id, now)
            deadline = s.next_deadline()
            if deadline is not None and deadline <= now:
                out += s.tick(now)
            out += s.push_audio(pcm, now)
            out += s.push_vad(events, now)
            to_ack = [e.segment_id for e in out if isinstance(e, CommitSegment)]
        return n

    def denoise() -> int:  # RNNoise costs the same on speech and silence: 10 s is enough
        with Denoiser(WIRE_RATE, RATE) as d:
            for pcm in t.wire_pcm[:500]:
                d.process_float(pcm.astype(np.float32))
        return min(n, 500)

    stages: dict[str, Callable[[], int]] = {
        "RTP parse": parse,
        "jitter push+pop": jitter,
        "G.711 decode": decode,
        "resample 8k->16k (soxr LQ)": resample,
        "DC removal + gain": levels,
        "VAD, one stream (pre-filter + Silero)": vad,
        "ring buffer + session bookkeeping": session,
        "denoise 8k->48k->16k (RNNoise)": denoise,
    }
    return {name: median_us(run, repeats) for name, run in stages.items()}


def batched_vad(
    model: SileroModel, pcm16k: list[np.ndarray], batch: int, ticks: int, repeats: int
) -> float:
    spacing = max(1, len(pcm16k) // batch)

    def run() -> int:
        streams = [VadStream() for _ in range(batch)]
        batcher = VadBatcher(model)
        for tick in range(ticks):
            for i, stream in enumerate(streams):
                stream.feed(pcm16k[(i * spacing + tick) % len(pcm16k)])
            batcher.run(streams)
            for stream in streams:
                stream.events()
        return ticks * batch

    return median_us(run, repeats)


# -- the 30-minute call ----------------------------------------------------------------------


def thirty_minute_call(repeats: int) -> tuple[float, float]:
    """(wall s, CPU s) medians for the session tests' simulated call (90 000 frames)."""
    from tests.unit.session.test_core_call import drive

    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        drive(lambda event: None, lambda session, minute: None)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


# -- report ----------------------------------------------------------------------------------


def ticks_for(n_calls: int, ticks: int, frames_of_audio: int) -> int:
    """Enough ticks that the calls, staggered, cover the whole test audio between them (so one
    call is not judged on a stretch of pure speech or pure silence)."""
    return max(ticks, frames_of_audio // n_calls)


def per_core(us: float) -> str:
    return f"{BUDGET_US / us:6.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="call audio per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="1 s per repeat, 3 repeats")
    args = parser.parse_args()
    seconds, repeats = (1.0, 3) if args.quick else (args.seconds, args.repeats)
    ticks = int(seconds / PTIME)
    pcm8k, source = call_audio(60.0, WIRE_RATE)
    payload_list = payloads(pcm8k)
    model = SileroModel()
    print(f"audio: 60 s of {source}, G.711 µ-law in 20 ms RTP packets")
    print(
        f"CPU time (time.process_time), median of {repeats} runs (end-to-end denoise rows: "
        f"{max(1, repeats // 2)}); µs per call per 20 ms frame\n"
    )

    t = trace(model, payload_list, len(payload_list))
    costs = stage_costs(model, t, repeats)
    print("1. stages, one call, over the whole 60 s")
    for name, us in costs.items():
        print(f"  {name:<42s} {us:8.1f} µs")

    single = costs["VAD, one stream (pre-filter + Silero)"]
    resample = costs["resample 8k->16k (soxr LQ)"]
    denoise = costs["denoise 8k->48k->16k (RNNoise)"]
    rest = sum(costs.values()) - single - denoise  # every stage but the VAD, without denoise
    print("\n2. total per frame = stages above with the VAD single-stream or batched over B calls")
    print(
        f"  {'VAD':<9s} {'VAD µs':>8s} {'no denoise':>11s} {'calls/core':>10s}"
        f" {'denoise':>9s} {'calls/core':>10s}"
    )
    rows = [("single", single)]
    for batch in BATCHES:
        n_ticks = ticks_for(batch, ticks, len(t.pcm16k))
        rows.append((f"B = {batch}", batched_vad(model, t.pcm16k, batch, n_ticks, repeats)))
    for label, vad in rows:
        plain, noisy = rest + vad, rest - resample + denoise + vad
        print(
            f"  {label:<9s} {vad:8.1f} {plain:11.1f} {per_core(plain):>10s}"
            f" {noisy:9.1f} {per_core(noisy):>10s}"
        )
    print(
        f"  target without denoise: <= {TARGET_US:g} µs (>= {BUDGET_US / TARGET_US:.0f} calls/core)"
    )

    print("\n3. whole chain end to end, N calls per 20 ms tick, one VadBatcher.run per tick")
    print(f"  {'N':>5s} {'denoise':>8s} {'µs/call':>8s} {'calls/core':>10s}  pre-filter decided")
    plan = [(n, False) for n in BATCHES] + [(n, True) for n in (1, 10, 50)]
    for n_calls, with_denoise in plan:
        n_ticks = ticks_for(n_calls, ticks, len(payload_list))
        runs = repeats
        if with_denoise:  # RNNoise is ~0.5-1 ms per frame: keep these runs short
            n_ticks = min(n_ticks, max(ticks, 500 // n_calls))
            runs = max(1, repeats // 2)
        us, skipped = run_calls(model, payload_list, n_calls, n_ticks, with_denoise, runs)
        print(
            f"  {n_calls:5d} {'yes' if with_denoise else 'no':>8s} {us:8.1f}"
            f" {per_core(us):>10s}  {skipped:.0%} of VAD chunks"
        )

    wall, cpu = thirty_minute_call(3)
    print("\n4. simulated 30-minute call through Session (90 000 frames of 20 ms, injected time)")
    print(f"  {wall:.2f} s wall, {cpu:.2f} s CPU ({wall / 90_000 * 1e6:.1f} µs wall per frame)")


if __name__ == "__main__":
    main()
