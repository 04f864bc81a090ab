from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from aiortc import codecs as aiortc_codecs
from aiortc.rtp import RtpPacket
from av import AudioFrame

from mediaserver.codecs.dtmf import TelephoneEvent
from mediaserver.transports.webrtc_media import (
    TELEPHONE_EVENT,
    TelephoneEventTap,
    frame_to_pcm16,
    register_telephone_event,
    summarize_sdp,
)


def frame(samples: np.ndarray[Any, Any], fmt: str, layout: str, rate: int = 48000) -> AudioFrame:
    f = AudioFrame.from_ndarray(samples, format=fmt, layout=layout)
    f.sample_rate = rate
    return f


def test_packed_stereo_is_averaged_to_mono() -> None:
    left = np.array([100, -200, 32767, -32768], dtype=np.int16)
    right = np.array([300, -200, 32767, -32767], dtype=np.int16)
    interleaved = np.stack([left, right], axis=1).reshape(1, -1)
    pcm = np.frombuffer(frame_to_pcm16(frame(interleaved, "s16", "stereo")), dtype="<i2")
    assert pcm.tolist() == [200, -200, 32767, -32768]  # floor division: (-65535) // 2


def test_planar_stereo_and_mono_frames() -> None:
    planar = np.array([[10, 20, 30], [30, 40, -30]], dtype=np.int16)
    assert np.frombuffer(frame_to_pcm16(frame(planar, "s16p", "stereo")), "<i2").tolist() == [
        20,
        30,
        0,
    ]
    mono = np.array([[1, -2, 3]], dtype=np.int16)
    assert frame_to_pcm16(frame(mono, "s16", "mono", 8000)) == mono.astype("<i2").tobytes()


def test_non_s16_frames_are_refused() -> None:
    floats = np.zeros((1, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="'flt' is not s16"):
        frame_to_pcm16(frame(floats, "flt", "mono"))


CHROME_LIKE_OFFER = "\r\n".join(
    [
        "v=0",
        "o=- 1 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 9 0 8 110 126",
        "c=IN IP4 0.0.0.0",
        "a=rtpmap:111 opus/48000/2",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:110 telephone-event/48000",
        "a=rtpmap:126 telephone-event/8000",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "c=IN IP4 0.0.0.0",
        "a=sctp-port:5000",
        "",
    ]
)


def test_summarize_sdp_reads_audio_codec_events_and_data_channel() -> None:
    summary = summarize_sdp(CHROME_LIKE_OFFER)
    assert summary.has_data_channel
    (audio,) = summary.audio
    assert (audio.codec, audio.sample_rate) == ("opus", 48000)
    assert audio.telephone_event_types == {110, 126}
    assert (audio.direction, audio.sends) == ("sendrecv", True)


def test_summarize_sdp_without_events_or_channel() -> None:
    sdp = CHROME_LIKE_OFFER.split("m=application")[0].replace("111 9 0 8 110 126", "0")
    summary = summarize_sdp(sdp)
    assert not summary.has_data_channel
    assert summary.audio[0].codec == "PCMU"
    assert summary.audio[0].telephone_event_types == frozenset()
    receive_only = summarize_sdp(sdp.replace("c=IN IP4 0.0.0.0", "c=IN IP4 0.0.0.0\r\na=recvonly"))
    assert (receive_only.audio[0].direction, receive_only.audio[0].sends) == ("recvonly", False)


def test_summarize_sdp_errors() -> None:
    with pytest.raises(ValueError, match="malformed"):
        summarize_sdp("m=audio x")
    events_only = CHROME_LIKE_OFFER.replace("111 9 0 8 110 126", "110")
    with pytest.raises(ValueError, match="no voice codec"):
        summarize_sdp(events_only)


def test_register_telephone_event_is_idempotent_and_last() -> None:
    assert register_telephone_event()
    assert register_telephone_event()
    audio = aiortc_codecs.CODECS["audio"]
    events = [c for c in audio if c.mimeType == TELEPHONE_EVENT]
    assert sorted(c.clockRate for c in events) == [8000, 48000]
    assert audio[0].mimeType == "audio/opus"  # the voice codec aiortc prefers is unchanged


class Receiver:
    def __init__(self) -> None:
        self.delivered: list[tuple[int, int]] = []

    async def _handle_rtp_packet(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        self.delivered.append((packet.payload_type, packet.sequence_number))


def event_packet(seq: int, timestamp: int, event: int, end: bool) -> RtpPacket:
    payload = bytes(TelephoneEvent(event=event, end=end, volume=10, duration=800))
    return RtpPacket(payload_type=110, sequence_number=seq, timestamp=timestamp, payload=payload)


async def test_tap_takes_events_out_and_closes_the_sequence_gaps() -> None:
    digits: list[str] = []
    tap = TelephoneEventTap(frozenset({110}), digits.append)
    receiver = Receiver()
    tap.install(receiver)  # type: ignore[arg-type]
    handle = receiver._handle_rtp_packet
    await handle(RtpPacket(payload_type=111, sequence_number=65534, timestamp=0), 0)
    for seq, end in ((65535, False), (0, True), (1, True), (2, True)):  # "5", end sent 3 times
        await handle(event_packet(seq, 960, 5, end), 0)
    await handle(RtpPacket(payload_type=111, sequence_number=3, timestamp=1920), 0)
    await handle(RtpPacket(payload_type=111, sequence_number=4, timestamp=2880), 0)
    assert digits == ["5"]
    # Voice arrives numbered as if the 4 event packets had never been in the stream.
    assert receiver.delivered == [(111, 65534), (111, 65535), (111, 0)]


async def test_tap_counts_malformed_events_and_flushes_an_unfinished_digit() -> None:
    digits: list[str] = []
    tap = TelephoneEventTap(frozenset({110}), digits.append)
    tap.take(RtpPacket(payload_type=110, sequence_number=1, timestamp=0, payload=b"\x01"))
    assert tap.malformed == 1
    tap.take(event_packet(2, 160, 11, end=False))
    assert digits == []
    tap.flush()
    assert digits == ["#"]


def test_odd_frame_sizes() -> None:
    stereo = np.arange(14, dtype=np.int16).reshape(1, 14)  # 7 samples: an odd frame size
    f = frame(stereo, "s16", "stereo")
    pcm = np.frombuffer(frame_to_pcm16(f), dtype="<i2")
    assert pcm.tolist() == [0, 2, 4, 6, 8, 10, 12]  # (2k + 2k+1) // 2
