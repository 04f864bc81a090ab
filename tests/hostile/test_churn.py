"""Issue 11, item 4: memory must not grow with call churn.

Each call allocates ~2 MB blocks (its 60 s ring buffer at 16 kHz is 1.92 MB) between small
long-lived objects. With glibc's dynamic mmap threshold those blocks end up on the heap after
the first frees, and the heap cannot shrink past live small objects: the audit saw 2,000 short
calls take the server from 204 MB to 1.49 GB. `mediaserver serve` fixes the threshold
(`tune_allocator`). This replays the allocation pattern of 600 calls (50 at once) in a fresh
interpreter, with and without the setting; the full-size check against the real server is
`benchmarks/hostile_soak.py --phase churn`.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mediaserver.commands.serve import tune_allocator
from mediaserver.config import Settings
from mediaserver.session.call_core import CallCore
from mediaserver.session.call_options import default_call_options
from mediaserver.session.ring_buffer import RingBufferOverflow

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc allocator"),
]

CHURN = """
import random, sys
import numpy as np
if sys.argv[1] == "tuned":
    from mediaserver.commands.serve import tune_allocator
    assert tune_allocator()
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20
rng = random.Random(1)
live, keep = [], []
def churn(calls):
    for _ in range(calls):
        ring = np.zeros(960_000, np.int16)  # a call's ring buffer ...
        ring[::512] = 1  # ... written to
        live.append((ring, bytearray(rng.randint(20_000, 300_000))))  # its other buffers
        keep.append(bytearray(rng.randint(50, 3000)))  # long-lived small objects in between
        if len(live) > 50:
            live.pop(rng.randrange(len(live)))  # calls end in any order
churn(100)
live.clear()
warm = rss()
churn(600)
live.clear()
print(warm, rss())
"""


def churn_rss(mode: str) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHURN, mode], capture_output=True, text=True, check=True
    ).stdout
    warm, after = map(float, out.split())
    return warm, after


def test_the_server_sets_the_allocator_here() -> None:
    assert tune_allocator()


def test_rss_stays_flat_under_churn_with_the_setting_and_grows_without() -> None:
    warm, after = churn_rss("tuned")
    # 600 small long-lived objects (~1 MB) may stay; 10 % of a warm server is the budget.
    assert after - warm <= max(0.10 * warm, 5.0), (warm, after)
    plain_warm, plain_after = churn_rss("plain")
    # The control: without the setting the same churn leaves the heap fragmented.
    assert plain_after - plain_warm > 4 * (after - warm) + 20, (plain_warm, plain_after)


def test_a_finished_calls_ring_buffer_is_freed_at_once_not_by_the_gc(settings: Settings) -> None:
    # A call is a web of callbacks (reference cycles): the collector frees it whenever it
    # runs, and until then its 1.92 MB ring would stay resident. Release gives it back now.
    core = CallCore("c1", default_call_options(settings), 0.0)
    ring = core.session.ring
    assert ring.nbytes == 60 * 16000 * 2
    core.feed(np.zeros(1600, np.int16), 16000, 0.1)
    core.release()
    assert ring.nbytes == 0
    with pytest.raises(ValueError, match="overwritten"):
        ring.read(0, 10)
    with pytest.raises(RingBufferOverflow):
        ring.write(np.zeros(0, np.int16))
