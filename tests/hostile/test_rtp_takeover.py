"""Issue 11, item 3: a stranger cannot take an RTP call over before (or after) the PBX's first
packet. The latch rules are checked on the pure core with a fake clock, then the attack the
audit ran (three packets from anyone latch the call; the PBX is rejected; the call's TTS goes to
the stranger) is replayed over real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import socket
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
import uvloop
from starlette.applications import Starlette

from mediaserver.api import calls_rtp, errors
from mediaserver.config import RtpSettings
from mediaserver.observability import Metrics
from mediaserver.transports.rtp.latch import ExpectedSource, SourceLatch
from mediaserver.transports.rtp.ports import PortPool
from mediaserver.transports.rtp.transport import RtpTransport
from tests.fake_calls import FakeCall, FakeCallManager
from tests.unit.transports.rtp.rtp_fakes import rtp

pytestmark = pytest.mark.timeout(30)

PBX = ("10.0.0.5", 20000)
STRANGER = ("203.0.113.9", 40000)
PBX_SSRC, STRANGER_SSRC = 0x1111, 0x2222


class Stream:
    """A well-formed 20 ms stream from one sender: consecutive sequence and timestamps."""

    def __init__(self, address: tuple[str, int], ssrc: int, first: int = 1000) -> None:
        self.address, self.ssrc, self.n, self.first = address, ssrc, 0, first

    def send(self, latch: SourceLatch[str], now: float) -> list[str]:
        seq, self.n = self.first + self.n, self.n + 1
        tag = f"{self.address[0]}/{self.ssrc:x}#{self.n}"
        return latch.offer(self.address, self.ssrc, seq & 0xFFFF, seq * 160, tag, now)


def run(latch: SourceLatch[str], *plan: tuple[Stream, float, float]) -> list[str]:
    """Each stream sends every 20 ms from its start to its end (seconds); merged by time."""
    events = sorted(
        (start + 0.02 * i, index)
        for index, (_, start, end) in enumerate(plan)
        for i in range(round((end - start) / 0.02))
    )
    played: list[str] = []
    for now, index in events:
        played += plan[index][0].send(latch, now)
    return played


# -- the pure latch ---------------------------------------------------------------------------


def test_a_strangers_burst_before_the_pbx_loses_the_call_to_the_pbx() -> None:
    latch: SourceLatch[str] = SourceLatch(3)
    stranger, pbx = Stream(STRANGER, STRANGER_SSRC), Stream(PBX, PBX_SSRC)
    played = run(latch, (stranger, 0.0, 0.1), (pbx, 0.3, 2.0))
    assert latch.source == (PBX, PBX_SSRC)
    assert latch.takeovers == 1
    # The PBX's audio plays from its first packet on once it took over (held, then released).
    pbx_played = [p for p in played if p.startswith(PBX[0])]
    assert pbx_played[0].endswith("#1")
    assert len(pbx_played) == 85


def test_a_stranger_cannot_take_over_a_pbx_that_is_streaming() -> None:
    latch: SourceLatch[str] = SourceLatch(3)
    stranger, pbx = Stream(STRANGER, STRANGER_SSRC), Stream(PBX, PBX_SSRC)
    # During probation (0.2 s in) and after it (6 s in): a perfect stream, still refused.
    played = run(latch, (pbx, 0.0, 8.0), (stranger, 0.2, 1.0), (stranger, 6.0, 7.0))
    assert latch.source == (PBX, PBX_SSRC)
    assert latch.takeovers == 0
    assert not [p for p in played if p.startswith(STRANGER[0])]
    assert latch.rejected == 40 + 50


def test_a_continuous_stranger_loses_to_the_host_that_created_the_call() -> None:
    latch: SourceLatch[str] = SourceLatch(3, preferred_host=PBX[0])
    stranger, pbx = Stream(STRANGER, STRANGER_SSRC), Stream(PBX, PBX_SSRC)
    run(latch, (stranger, 0.0, 3.0), (pbx, 0.5, 3.0))
    assert latch.source == (PBX, PBX_SSRC)
    # ... but only while on probation: a PBX that starts late does not win any more.
    late: SourceLatch[str] = SourceLatch(3, preferred_host=PBX[0], probation_s=1.0)
    run(late, (Stream(STRANGER, STRANGER_SSRC), 0.0, 3.0), (Stream(PBX, PBX_SSRC), 1.5, 3.0))
    assert late.source == (STRANGER, STRANGER_SSRC)


def test_an_expected_source_pins_the_call_whoever_sends_first() -> None:
    latch: SourceLatch[str] = SourceLatch(3, expected=ExpectedSource.parse("10.0.0.5:20000"))
    stranger, pbx = Stream(STRANGER, STRANGER_SSRC), Stream(PBX, PBX_SSRC)
    other_port = Stream((PBX[0], 20002), 0x3333)
    played = run(latch, (stranger, 0.0, 2.0), (other_port, 0.0, 2.0), (pbx, 0.5, 2.0))
    assert latch.source == (PBX, PBX_SSRC)
    assert all(p.startswith(f"{PBX[0]}/{PBX_SSRC:x}") for p in played)
    assert latch.rejected == 200  # every packet of the other two, counted
    # Host only: any port of that host.
    host_only: SourceLatch[str] = SourceLatch(3, expected=ExpectedSource.parse("10.0.0.5"))
    run(host_only, (stranger, 2.0, 3.0), (other_port, 2.5, 3.0))
    assert host_only.source == ((PBX[0], 20002), 0x3333)


def test_the_ssrc_is_pinned_after_probation_even_from_the_same_address() -> None:
    latch: SourceLatch[str] = SourceLatch(3, probation_s=1.0)
    old, spoof = Stream(PBX, PBX_SSRC), Stream(PBX, 0x9999)
    run(latch, (old, 0.0, 4.0), (spoof, 2.0, 3.0))  # a spoofer with the PBX's address
    assert latch.source == (PBX, PBX_SSRC)
    renewed = Stream(PBX, 0x4444)  # the old stream stopped: still nobody else, ever
    assert run(latch, (renewed, 4.0, 5.0)) == []
    assert latch.source == (PBX, PBX_SSRC)


def test_during_probation_a_new_ssrc_from_the_sender_takes_over_once_the_old_stops() -> None:
    latch: SourceLatch[str] = SourceLatch(3)
    old, renewed = Stream(PBX, PBX_SSRC), Stream(PBX, 0x4444)
    run(latch, (old, 0.0, 1.0))
    played = run(latch, (renewed, 1.0, 2.0))
    # Held until the old one had been quiet 0.25 s, then released: none of it lost.
    assert len(played) == 50
    assert latch.source == (PBX, 0x4444)
    assert latch.takeovers == 1


def test_junk_that_is_not_a_stream_never_latches() -> None:
    latch: SourceLatch[str] = SourceLatch(3)
    rng = random.Random(7)
    for i in range(5000):
        seq = rng.randrange(65536) if i % 2 else i  # every other packet consecutive
        ts = rng.randrange(1 << 32)  # ... but timestamps all over the place
        latch.offer(STRANGER, 0x5555, seq, ts, "junk", i * 0.001)
    assert latch.source is None


@pytest.mark.parametrize(
    ("text", "shown"),
    [("192.0.2.7", "192.0.2.7"), ("192.0.2.7:5004", "192.0.2.7:5004"), ("::1", "[::1]"),
     ("[2001:db8::1]:6000", "[2001:db8::1]:6000"), ("::ffff:192.0.2.7", "192.0.2.7")],
)  # fmt: skip
def test_expected_source_parses(text: str, shown: str) -> None:
    assert str(ExpectedSource.parse(text)) == shown


@pytest.mark.parametrize(
    "text", ["pbx.example", "192.0.2.7:0", "192.0.2.7:99999", "192.0.2.7:", "1.2.3.4:5:6", 7, None]
)
def test_expected_source_refuses(text: object) -> None:
    with pytest.raises(ValueError, match="source must be"):
        ExpectedSource.parse(text)


def test_ports_are_not_handed_out_in_order() -> None:
    pool = PortPool(40000, 40999)
    ports = [pool.allocate() for _ in range(200)]
    ascending = sum(b == a + 1 for a, b in itertools.pairwise(ports))
    assert ascending < 10  # by chance about 0.2 of 199
    assert len(set(ports)) == 200
    again = PortPool(40000, 40999)
    assert [again.allocate() for _ in range(20)] != ports[:20]


# -- over real sockets ------------------------------------------------------------------------


@pytest.fixture
def manager() -> FakeCallManager:
    return FakeCallManager()


@pytest.fixture
async def transport(manager: FakeCallManager) -> AsyncIterator[RtpTransport]:
    low = random.randrange(20000, 29000)
    settings = RtpSettings(port_min=low, port_max=low + 63, jitter_delay_ms=40)
    rtp_transport = RtpTransport(settings, manager)
    try:
        yield rtp_transport
    finally:
        await rtp_transport.close()


def udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


@pytest.fixture
def sockets() -> Iterator[tuple[socket.socket, socket.socket]]:
    pbx, stranger = udp(), udp()
    yield pbx, stranger
    pbx.close()
    stranger.close()


async def stream(sock: socket.socket, port: int, count: int, ssrc: int, loud: bool) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    payload = (b"\x00" if loud else b"\xff") * 160
    for i in range(count):
        sock.sendto(rtp(500 + i, 160 * i, payload, ssrc=ssrc), ("127.0.0.1", port))
        await asyncio.sleep(max(0.0, start + 0.02 * (i + 1) - loop.time()))


async def test_the_audited_takeover_fails_pbx_keeps_media_and_tts(
    transport: RtpTransport, sockets: tuple[socket.socket, socket.socket]
) -> None:
    pbx, stranger = sockets
    opened = await transport.open_call({})
    # The stranger gets there first: three packets latch the call.
    await stream(stranger, opened.port, 3, STRANGER_SSRC, loud=True)
    assert opened.endpoint.remote() == f"127.0.0.1:{stranger.getsockname()[1]}"
    sender = opened.endpoint.sender()  # TTS would go to the stranger now ...
    await asyncio.sleep(0.3)
    pbx_streams = asyncio.create_task(stream(pbx, opened.port, 60, PBX_SSRC, loud=False))
    await asyncio.sleep(0.6)
    # ... until the PBX streams: it takes the call, media and TTS.
    pbx_address = ("127.0.0.1", pbx.getsockname()[1])
    assert opened.endpoint.remote() == f"127.0.0.1:{pbx_address[1]}"
    assert sender.address == pbx_address
    assert opened.endpoint.stats()["takeovers"] == 1
    # The stranger comes back with a perfect stream while the PBX sends: refused.
    await stream(stranger, opened.port, 20, STRANGER_SSRC + 1, loud=True)
    await pbx_streams
    assert opened.endpoint.remote() == f"127.0.0.1:{pbx_address[1]}"
    call = opened.call
    assert isinstance(call, FakeCall)
    samples = np.frombuffer(call.fed_bytes, np.int16)
    assert np.abs(samples[:480]).min() > 30000  # the stranger's 3 frames played ...
    assert np.abs(samples[-8000:]).max() == 0  # ... the last second is the PBX's silence only


async def test_source_option_pins_the_call_over_sockets(
    transport: RtpTransport, sockets: tuple[socket.socket, socket.socket]
) -> None:
    pbx, stranger = sockets
    port = pbx.getsockname()[1]
    opened = await transport.open_call({"source": f"127.0.0.1:{port}"})
    await asyncio.gather(
        stream(stranger, opened.port, 30, STRANGER_SSRC, loud=True),
        stream(pbx, opened.port, 30, PBX_SSRC, loud=False),
    )
    assert opened.endpoint.remote() == f"127.0.0.1:{port}"
    assert opened.endpoint.stats()["packets_rejected"] == 30
    assert opened.endpoint.stats()["takeovers"] == 0


async def test_post_calls_validates_source(transport: RtpTransport) -> None:
    app = Starlette(routes=calls_rtp.routes, exception_handlers=errors.EXCEPTION_HANDLERS)
    app.state.runtime = SimpleNamespace(rtp=transport, metrics=Metrics())
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    async with http:
        bad = await http.post("/v1/calls", json={"source": "pbx.example:5060"})
        good = await http.post("/v1/calls", json={"source": "192.0.2.7:5004"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_request"
    assert "source must be" in bad.json()["error"]["message"]
    assert good.status_code == 201
    narrowed = RtpTransport(
        RtpSettings(port_min=1030, port_max=1031, allowed_sources=("10.0.0.0/8",)),
        FakeCallManager(),
    )
    with pytest.raises(ValueError, match=r"outside the server's rtp\.allowed_sources"):
        await narrowed.open_call({"source": "192.0.2.7"})


# uvloop does not close the UDP handle of a failed bind; it warns when the handle is collected.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_ports_held_by_others_are_skipped_under_uvloop_too() -> None:
    """Ports are drawn at random from a range inside the ephemeral one, so a port held by any
    other socket of the host is common. uvloop reports the bind failure as a new OSError
    without errno: that was a 500 on POST /v1/calls (seen in the churn soak)."""

    async def open_beside_squatters() -> int:
        low = random.randrange(20000, 29000)
        squatters = []
        for port in range(low, low + 8):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            with contextlib.suppress(OSError):  # already busy: just as good
                sock.bind(("127.0.0.1", port))
            squatters.append(sock)
        squatters.pop().close()  # the last one is the only free port
        transport = RtpTransport(RtpSettings(port_min=low, port_max=low + 7), FakeCallManager())
        try:
            opened = await transport.open_call({})
            return opened.port - low
        finally:
            await transport.close()
            for sock in squatters:
                sock.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(open_beside_squatters()) == 7
