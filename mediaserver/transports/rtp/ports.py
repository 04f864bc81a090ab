"""A pool of UDP port numbers for RTP calls; pure bookkeeping, no sockets.

Free ports are handed out at random, from a CSPRNG: a call's port is the first thing a stranger
needs to inject media into it, and with ports given out in order (40000, 40001, ...) the next
call's port is known before the PBX has been told it. A port just given back is not reused at
once: the most recently released ports sit in a short queue (``cooldown``) and only return to
the random draw once newer ones push them out, so stray packets still in flight for a closed
call are unlikely to reach the next call on the same port. Binding is the caller's job; a port
that cannot be bound (another process holds it) is released like any other.
"""

from __future__ import annotations

import random
from collections import deque

# Ports kept out of the draw after release, as a share of the range (and at most this many).
_COOLDOWN_SHARE = 4
_COOLDOWN_MAX = 256


class PortsExhausted(Exception):
    """Every port of the range is allocated."""


class PortPool:
    __slots__ = ("_cooldown", "_cooling", "_free", "_in_use", "_random", "port_max", "port_min")

    def __init__(self, port_min: int, port_max: int, rng: random.Random | None = None) -> None:
        if not 0 < port_min <= port_max < 65536:
            raise ValueError(f"port range {port_min}-{port_max} is invalid (need 1..65535)")
        self.port_min = port_min
        self.port_max = port_max
        # SystemRandom: the draw must not be predictable from earlier ports (tests pass a seed).
        self._random = rng if rng is not None else random.SystemRandom()
        self._free: list[int] = list(range(port_min, port_max + 1))
        self._cooling: deque[int] = deque()
        self._cooldown = max(1, min(_COOLDOWN_MAX, len(self._free) // _COOLDOWN_SHARE))
        self._in_use: set[int] = set()

    def __len__(self) -> int:
        """Ports of the range (allocated or not)."""
        return self.port_max - self.port_min + 1

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    @property
    def available(self) -> int:
        return len(self._free) + len(self._cooling)

    def __contains__(self, port: object) -> bool:
        """Whether ``port`` is currently allocated."""
        return port in self._in_use

    def allocate(self) -> int:
        """A random free port (the cooling ones only when no other is free);
        ``PortsExhausted`` when there is none."""
        free = self._free
        if free:
            # Swap-remove: O(1), the order of the free list carries no meaning.
            index = self._random.randrange(len(free))
            free[index], free[-1] = free[-1], free[index]
            port = free.pop()
        elif self._cooling:
            port = self._cooling.popleft()
        else:
            raise PortsExhausted(
                f"all {len(self)} RTP ports ({self.port_min}-{self.port_max}) in use"
            )
        self._in_use.add(port)
        return port

    def release(self, port: int) -> None:
        """Give ``port`` back. Releasing a port that is not allocated raises ``ValueError``."""
        if port not in self._in_use:
            raise ValueError(f"port {port} is not allocated from this pool")
        self._in_use.remove(port)
        self._cooling.append(port)
        while len(self._cooling) > self._cooldown:
            self._free.append(self._cooling.popleft())
