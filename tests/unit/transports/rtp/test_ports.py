from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediaserver.transports.rtp.ports import PortPool, PortsExhausted


def test_allocates_every_port_once_then_refuses() -> None:
    pool = PortPool(40000, 40003)
    ports = [pool.allocate() for _ in range(4)]
    assert sorted(ports) == [40000, 40001, 40002, 40003]
    assert pool.in_use == 4
    assert pool.available == 0
    with pytest.raises(PortsExhausted, match="40000-40003"):
        pool.allocate()


def test_released_port_is_reused_last() -> None:
    pool = PortPool(5000, 5002)
    first = pool.allocate()
    pool.release(first)
    # The two never-used ports come before the one just released.
    again = [pool.allocate() for _ in range(3)]
    assert sorted(again[:2]) == sorted({5000, 5001, 5002} - {first})
    assert again[2] == first


def test_release_of_unallocated_port_raises_and_changes_nothing() -> None:
    pool = PortPool(5000, 5001)
    port = pool.allocate()
    with pytest.raises(ValueError, match="not allocated"):
        pool.release(10001 - port)  # the other one
    with pytest.raises(ValueError, match="not allocated"):
        pool.release(9999)
    pool.release(port)
    with pytest.raises(ValueError, match="not allocated"):
        pool.release(port)  # twice
    assert pool.in_use == 0
    assert pool.available == 2


@pytest.mark.parametrize(("low", "high"), [(0, 10), (10, 9), (65000, 65536)])
def test_invalid_range(low: int, high: int) -> None:
    with pytest.raises(ValueError, match="port range"):
        PortPool(low, high)


@given(st.lists(st.booleans(), max_size=300))
def test_allocations_and_releases_never_leak(steps: list[bool]) -> None:
    pool = PortPool(6000, 6009)
    held: list[int] = []
    for allocate in steps:
        if allocate:
            try:
                port = pool.allocate()
            except PortsExhausted:
                assert len(held) == 10
                continue
            assert port not in held
            assert port in pool
            held.append(port)
        elif held:
            pool.release(held.pop(0))
        assert pool.in_use == len(held)
        assert pool.in_use + pool.available == len(pool) == 10
