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


def test_latches_after_required_in_sequence_packets_and_releases_them_in_order() -> None:
    latch: SourceLatch[str] = SourceLatch(3)
    assert latch.offer(PBX, 1, 100, "a") == []
    assert latch.offer(PBX, 1, 101, "b") == []
    assert latch.source is None
    assert latch.offer(PBX, 1, 102, "c") == ["a", "b", "c"]
    assert latch.source == (PBX, 1)
    assert latch.offer(PBX, 1, 103, "d") == ["d"]
    assert latch.rejected == 0


def test_after_latch_other_address_or_ssrc_is_rejected_and_counted() -> None:
    latch: SourceLatch[int] = SourceLatch(1)
    assert latch.offer(PBX, 7, 1, 1) == [1]
    assert latch.offer(OTHER, 7, 2, 2) == []  # same SSRC, other address
    assert latch.offer((PBX[0], PBX[1] + 1), 7, 2, 3) == []  # other port
    assert latch.offer(PBX, 8, 2, 4) == []  # SSRC change
    assert latch.rejected == 3
    assert latch.source == (PBX, 7)
    # Out-of-order packets of the latched stream are not the latch's business.
    assert latch.offer(PBX, 7, 0, 5) == [5]


def test_sequence_wraps_around_while_latching() -> None:
    latch: SourceLatch[int] = SourceLatch(3)
    latch.offer(PBX, 1, 0xFFFE, 1)
    latch.offer(PBX, 1, 0xFFFF, 2)
    assert latch.offer(PBX, 1, 0, 3) == [1, 2, 3]


def test_out_of_sequence_restarts_the_run() -> None:
    latch: SourceLatch[int] = SourceLatch(3)
    latch.offer(PBX, 1, 10, 1)
    latch.offer(PBX, 1, 11, 2)
    assert latch.offer(PBX, 1, 11, 3) == []  # duplicate: run starts again at 3
    assert latch.rejected == 2
    assert latch.offer(PBX, 1, 12, 4) == []
    assert latch.offer(PBX, 1, 13, 5) == [3, 4, 5]


def test_first_source_to_complete_wins_and_losers_are_rejected() -> None:
    latch: SourceLatch[str] = SourceLatch(3)
    latch.offer(OTHER, 9, 500, "x1")  # junk source starts first
    latch.offer(PBX, 1, 100, "a")
    latch.offer(OTHER, 9, 900, "x2")  # ... but is not in sequence
    latch.offer(PBX, 1, 101, "b")
    assert latch.offer(PBX, 1, 102, "c") == ["a", "b", "c"]
    assert latch.rejected == 2  # x1 (restarted by x2), x2 (lost the race)
    assert latch.offer(OTHER, 9, 901, "x3") == []
    assert latch.rejected == 3


def test_candidates_are_bounded() -> None:
    latch: SourceLatch[int] = SourceLatch(2)
    for i in range(MAX_CANDIDATES * 3):
        latch.offer((f"192.0.2.{i}", 4000), i, 0, i)
    assert latch.rejected == MAX_CANDIDATES * 2
    assert latch.source is None


def test_allowlist_rejects_before_latching() -> None:
    latch: SourceLatch[int] = SourceLatch(1, parse_networks(["10.0.0.0/30"]))
    assert latch.offer(("10.0.0.9", 1), 1, 1, 1) == []
    assert latch.rejected == 1
    assert latch.offer(PBX, 1, 1, 2) == []  # 10.0.0.5 is outside /30 too
    assert latch.offer(("10.0.0.2", 1), 1, 1, 3) == [3]


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
