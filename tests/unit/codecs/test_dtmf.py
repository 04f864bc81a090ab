from __future__ import annotations

import pytest

from mediaserver.codecs.dtmf import DtmfDetector, TelephoneEvent


def payload(event: int, *, end: bool = False, volume: int = 10, duration: int = 0) -> bytes:
    return bytes(TelephoneEvent(event, end, volume, duration))


def key_press(
    event: int, timestamp: int, *, updates: int = 4, ends: int = 3
) -> list[tuple[int, bytes]]:
    """Packets an RFC 4733 sender emits for one key: growing updates, then repeated ends."""
    packets = [(timestamp, payload(event, duration=160 * i)) for i in range(updates)]
    packets += [(timestamp, payload(event, end=True, duration=160 * updates))] * ends
    return packets


def feed_all(detector: DtmfDetector, packets: list[tuple[int, bytes]]) -> str:
    return "".join(detector.feed(ts, data) for ts, data in packets)


def test_parse_fields() -> None:
    event = TelephoneEvent.parse(bytes([11, 0x80 | 0x0A, 0x03, 0x20]))
    assert event == TelephoneEvent(event=11, end=True, volume=10, duration=800)
    assert event.digit == "#"


def test_parse_ignores_trailing_bytes_and_round_trips() -> None:
    event = TelephoneEvent(5, False, 63, 65535)
    assert TelephoneEvent.parse(bytes(event) + b"extra") == event


@pytest.mark.parametrize("size", [0, 1, 3])
def test_short_payload_is_rejected(size: int) -> None:
    with pytest.raises(ValueError, match=f"telephone-event payload truncated: {size} bytes < 4"):
        TelephoneEvent.parse(bytes(size))


@pytest.mark.parametrize(("event", "digit"), list(enumerate("0123456789*#ABCD")))
def test_event_codes_map_to_characters(event: int, digit: str) -> None:
    assert DtmfDetector().feed(1000, payload(event, end=True)) == digit


def test_one_digit_per_key_press_despite_repeats() -> None:
    detector = DtmfDetector()
    outputs = [detector.feed(ts, data) for ts, data in key_press(1, 8000)]
    # Reported exactly once, on the first end packet.
    assert outputs == ["", "", "", "", "1", "", ""]


def test_sequence_of_keys_including_the_same_key_twice() -> None:
    detector = DtmfDetector()
    packets = key_press(1, 8000) + key_press(1, 9600) + key_press(10, 11200) + key_press(15, 12800)
    assert feed_all(detector, packets) == "11*D"


def test_lost_end_packets_report_when_the_next_event_starts() -> None:
    detector = DtmfDetector()
    assert feed_all(detector, key_press(4, 8000, ends=0)) == ""
    assert detector.feed(9600, payload(2)) == "4"
    assert feed_all(detector, key_press(2, 9600)[1:]) == "2"


def test_lost_end_reported_by_flush() -> None:
    detector = DtmfDetector()
    assert feed_all(detector, key_press(7, 8000, ends=0)) == ""
    assert detector.flush() == "7"
    assert detector.flush() == ""


def test_only_end_packets_received_and_previous_unfinished() -> None:
    detector = DtmfDetector()
    detector.feed(8000, payload(3))
    # Next event's start packets all lost: its first packet is already an end.
    assert detector.feed(9600, payload(9, end=True, duration=800)) == "39"


def test_events_above_15_are_ignored_without_error() -> None:
    detector = DtmfDetector()
    packets = (
        key_press(16, 8000) + key_press(5, 9600) + key_press(70, 11200) + key_press(255, 12000)
    )
    assert feed_all(detector, packets) == "5"
    assert detector.flush() == ""


def test_zero_durations() -> None:
    detector = DtmfDetector()
    assert detector.feed(8000, payload(8, duration=0)) == ""
    assert detector.feed(8000, payload(8, end=True, duration=0)) == "8"


def test_late_copy_of_a_finished_event_is_not_a_new_digit() -> None:
    detector = DtmfDetector()
    feed_all(detector, key_press(1, 8000))
    feed_all(detector, key_press(2, 9600, ends=1))
    # A reordered end packet of the first key arrives after the second key began.
    assert detector.feed(8000, payload(1, end=True, duration=640)) == ""
    assert detector.feed(8000, payload(1, duration=160)) == ""


def test_timestamp_wraparound() -> None:
    detector = DtmfDetector()
    packets = key_press(1, 0xFFFFFF00) + key_press(2, 0x00000100)
    assert feed_all(detector, packets) == "12"


def test_timestamp_restart_far_behind_is_a_new_event() -> None:
    detector = DtmfDetector()
    packets = key_press(1, 5_000_000) + key_press(2, 1000)
    assert feed_all(detector, packets) == "12"


def test_malformed_packet_changes_nothing() -> None:
    detector = DtmfDetector()
    detector.feed(8000, payload(6))
    with pytest.raises(ValueError, match="truncated"):
        detector.feed(9600, b"\x01")
    assert detector.feed(8000, payload(6, end=True)) == "6"


def test_reset_forgets_the_current_event() -> None:
    detector = DtmfDetector()
    detector.feed(8000, payload(6))
    detector.reset()
    assert detector.flush() == ""
    assert detector.feed(8000, payload(6, end=True)) == "6"
