from __future__ import annotations

import pytest

from mediaserver.transports.rtp.latch import (
    MAX_CANDIDATES,
    SourceLatch,
    parse_networks,
    source_allowed,
)

PBX = ("10.0.0.5", 20000)
OTHER = ("10.0.0.6", 20000)
NOW = 0.0


def ts(sequence: int) -> int:
    """The RTP timestamp of packet ``sequence`` of a 20 ms, 8 kHz stream."""
    return sequence * 160


def test_latches_after_required_in_sequence_packets_and_releases_them_in_order() -> None:
    latch: SourceLatch[str] = SourceLatch(3)
    assert latch.offer(PBX, 1, 100, ts(100), "a", NOW) == []
    assert latch.offer(PBX, 1, 101, ts(101), "b", NOW) == []
    assert latch.source is None
    assert latch.offer(PBX, 1, 102, ts(102), "c", NOW) == ["a", "b", "c"]
    assert latch.source == (PBX, 1)
    assert latch.offer(PBX, 1, 103, ts(103), "d", NOW) == ["d"]
    assert latch.rejected == 0


def test_after_probation_other_address_or_ssrc_is_rejected_and_counted() -> None:
    latch: SourceLatch[int] = SourceLatch(1)
    assert latch.offer(PBX, 7, 1, ts(1), 1, NOW) == [1]
    later = NOW + latch.probation_s
    assert latch.offer(PBX, 7, 2, ts(2), 2, later) == [2]
    assert latch.offer(OTHER, 7, 3, ts(3), 3, later) == []  # same SSRC, other address
    assert latch.offer((PBX[0], PBX[1] + 1), 7, 3, ts(3), 4, later) == []  # other port
    assert latch.rejected == 2
    # After probation the SSRC is pinned too: a new one from the latched address is refused.
    assert latch.offer(PBX, 8, 3, ts(3), 5, later) == []
    assert latch.source == (PBX, 7)
    # Out-of-order packets of the latched stream are not the latch's business.
    assert latch.offer(PBX, 7, 0, ts(0), 6, later) == [6]


def test_sequence_wraps_around_while_latching() -> None:
    latch: SourceLatch[int] = SourceLatch(3)
    latch.offer(PBX, 1, 0xFFFE, ts(0xFFFE), 1, NOW)
    latch.offer(PBX, 1, 0xFFFF, ts(0xFFFF), 2, NOW)
    assert latch.offer(PBX, 1, 0, ts(0x10000), 3, NOW) == [1, 2, 3]


def test_out_of_sequence_restarts_the_run() -> None:
    latch: SourceLatch[int] = SourceLatch(3)
    latch.offer(PBX, 1, 10, ts(10), 1, NOW)
    latch.offer(PBX, 1, 11, ts(11), 2, NOW)
    assert latch.offer(PBX, 1, 11, ts(11), 3, NOW) == []  # duplicate: run starts again at 3
    assert latch.rejected == 2
    assert latch.offer(PBX, 1, 12, ts(12), 4, NOW) == []
    assert latch.offer(PBX, 1, 13, ts(13), 5, NOW) == [3, 4, 5]


def test_first_source_to_complete_wins_and_losers_are_rejected() -> None:
    latch: SourceLatch[str] = SourceLatch(3)
    latch.offer(OTHER, 9, 500, ts(500), "x1", NOW)  # junk source starts first
    latch.offer(PBX, 1, 100, ts(100), "a", NOW)
    latch.offer(OTHER, 9, 900, ts(900), "x2", NOW)  # ... but is not in sequence
    latch.offer(PBX, 1, 101, ts(101), "b", NOW)
    assert latch.offer(PBX, 1, 102, ts(102), "c", NOW) == ["a", "b", "c"]
    assert latch.rejected == 2  # x1 (restarted by x2), x2 (lost the race)
    assert latch.offer(OTHER, 9, 901, ts(901), "x3", NOW + latch.probation_s) == []
    assert latch.rejected == 3


def test_candidates_are_bounded() -> None:
    latch: SourceLatch[int] = SourceLatch(2)
    for i in range(MAX_CANDIDATES * 3):
        latch.offer((f"192.0.2.{i}", 4000), i, 0, ts(0), i, NOW)
    assert latch.rejected == MAX_CANDIDATES * 2
    assert latch.source is None


def test_allowlist_rejects_before_latching() -> None:
    latch: SourceLatch[int] = SourceLatch(1, parse_networks(["10.0.0.0/30"]))
    assert latch.offer(("10.0.0.9", 1), 1, 1, ts(1), 1, NOW) == []
    assert latch.rejected == 1
    assert latch.offer(PBX, 1, 1, ts(1), 2, NOW) == []  # 10.0.0.5 is outside /30 too
    assert latch.offer(("10.0.0.2", 1), 1, 1, ts(1), 3, NOW) == [3]


def test_source_allowed() -> None:
    nets = parse_networks(["192.0.2.0/24", "2001:db8::/32"])
    assert source_allowed("192.0.2.200", nets)
    assert source_allowed("::ffff:192.0.2.1", nets)  # IPv4-mapped
    assert source_allowed("2001:db8::1%eth0", nets)
    assert not source_allowed("198.51.100.1", nets)
    assert not source_allowed("not-an-ip", nets)
    assert source_allowed("198.51.100.1", ())


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300/8'"):
        parse_networks(["10.0.0.0/8", "10.0.0.300/8"])
    with pytest.raises(ValueError, match="at least 1"):
        SourceLatch(0)
