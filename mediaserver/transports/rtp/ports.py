"""A pool of UDP port numbers for RTP calls; pure bookkeeping, no sockets.

Free ports are handed out oldest-released first, so a port that was just given back is the
last to be reused: stray packets still in flight for a closed call are unlikely to reach the
next call on the same port. Binding is the caller's job; a port that cannot be bound (another
process holds it) is released like any other and so goes to the end of the queue.
"""

from __future__ import annotations

from collections import deque


class PortsExhausted(Exception):
    """Every port of the range is allocated."""


class PortPool:
    __slots__ = ("_free", "_in_use", "port_max", "port_min")

    def __init__(self, port_min: int, port_max: int) -> None:
        if not 0 < port_min <= port_max < 65536:
            raise ValueError(f"port range {port_min}-{port_max} is invalid (need 1..65535)")
        self.port_min = port_min
        self.port_max = port_max
        self._free: deque[int] = deque(range(port_min, port_max + 1))
        self._in_use: set[int] = set()

    def __len__(self) -> int:
        """Ports of the range (allocated or not)."""
        return self.port_max - self.port_min + 1

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    @property
    def available(self) -> int:
        return len(self._free)

    def __contains__(self, port: object) -> bool:
        """Whether ``port`` is currently allocated."""
        return port in self._in_use

    def allocate(self) -> int:
        """The least recently released free port; ``PortsExhausted`` when there is none."""
        if not self._free:
            raise PortsExhausted(
                f"all {len(self)} RTP ports ({self.port_min}-{self.port_max}) in use"
            )
        port = self._free.popleft()
        self._in_use.add(port)
        return port

    def release(self, port: int) -> None:
        """Give ``port`` back. Releasing a port that is not allocated raises ``ValueError``."""
        if port not in self._in_use:
            raise ValueError(f"port {port} is not allocated from this pool")
        self._in_use.remove(port)
        self._free.append(port)
