"""RtpTransport over real UDP sockets on loopback, with a recording fake call manager."""

from __future__ import annotations

import asyncio
import random
import socket
import statistics
import struct
import time
from collections.abc import AsyncIterator

import pytest
import uvloop

from mediaserver.codecs.g711 import ulaw_decode, ulaw_encode
from mediaserver.codecs.rtp import RtpPacket
from mediaserver.config import RtpSettings
from mediaserver.observability import Metrics
from mediaserver.transports.rtp.ports import PortsExhausted
from mediaserver.transports.rtp.transport import NotLatched, RtpCall, RtpTransport
from tests.fake_calls import FakeCall, FakeCallManager
from tests.unit.transports.rtp.rtp_fakes import REFUSED, dtmf_packets, rtp

pytestmark = pytest.mark.timeout(30)


def port_range(size: int) -> tuple[int, int]:
    base = random.randrange(20000, 30000 - size)
    return base, base + size - 1


@pytest.fixture
def manager() -> FakeCallManager:
    return FakeCallManager()


@pytest.fixture
async def transport(manager: FakeCallManager) -> AsyncIterator[RtpTransport]:
    low, high = port_range(16)
    settings = RtpSettings(port_min=low, port_max=high, media_timeout_s=5.0, jitter_delay_ms=40)
    rtp_transport = RtpTransport(settings, manager)
    try:
        yield rtp_transport
    finally:
        await rtp_transport.close()
        assert rtp_transport.pool.in_use == 0


@pytest.fixture
def peer() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    yield sock  # type: ignore[misc]
    sock.close()


def frame(index: int) -> bytes:
    return ulaw_encode(struct.pack("<h", 200 * (index % 50) - 5000) * 160)


async def send_paced(sock: socket.socket, port: int, packets: list[bytes]) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i, packet in enumerate(packets):
        sock.sendto(packet, ("127.0.0.1", port))
        await asyncio.sleep(max(0.0, start + 0.02 * (i + 1) - loop.time()))


def fake(opened: RtpCall) -> FakeCall:
    assert isinstance(opened.call, FakeCall)
    return opened.call


async def test_audio_is_fed_in_order_at_the_call_rate(
    transport: RtpTransport, manager: FakeCallManager, peer: socket.socket
) -> None:
    opened = await transport.open_call({"codec": "PCMU", "model": "m", "language": "pt"})
    assert opened.host == "127.0.0.1"
    assert opened.port in transport.pool
    assert manager.options == [{"model": "m", "language": "pt"}]
    packets = [rtp(100 + i, 8000 + 160 * i, frame(i)) for i in range(40)]
    await send_paced(peer, opened.port, packets)
    await asyncio.sleep(0.15)
    call = fake(opened)
    assert call.transport_info.codec == "PCMU"
    expected = b"".join(ulaw_decode(frame(i)) for i in range(40))
    assert call.fed_bytes[: len(expected)] == expected
    assert {rate for _, _, rate in call.feeds} == {8000}
    # Played out on the 20 ms grid: one frame per tick, not in bursts.
    assert statistics.median(size for _, size, _ in call.feeds) == 320
    stats = opened.endpoint.stats()
    assert stats["packets_received"] == 40
    assert stats["packets_lost"] == 0
    assert opened.endpoint.remote() == f"127.0.0.1:{peer.getsockname()[1]}"


async def test_dtmf_reaches_the_call(transport: RtpTransport, peer: socket.socket) -> None:
    opened = await transport.open_call({})
    audio = [rtp(1 + i, 160 * i, frame(i)) for i in range(5)]
    await send_paced(peer, opened.port, [*audio, *dtmf_packets(1, 6, 800)])
    await asyncio.sleep(0.05)
    assert fake(opened).digits == ["1"]


async def test_junk_and_other_sources_are_counted_not_played(
    transport: RtpTransport, peer: socket.socket
) -> None:
    opened = await transport.open_call({})
    await send_paced(peer, opened.port, [rtp(1 + i, 160 * i, frame(i)) for i in range(5)])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as intruder:
        target = ("127.0.0.1", opened.port)
        for i in range(10):
            intruder.sendto(rtp(6 + i, 800 + 160 * i, b"\x00" * 160), target)  # loud, same SSRC
            intruder.sendto(b"\x16\x03\x01 not rtp", target)
        peer.sendto(rtp(6, 800, frame(6), ssrc=0xDEAD), target)  # SSRC change
        await asyncio.sleep(0.1)
    stats = opened.endpoint.stats()
    assert stats["packets_rejected"] == 11
    assert stats["packets_malformed"] == 10
    assert stats["packets_received"] == 5
    assert fake(opened).info()["stats"]["packets_rejected"] == 11


async def test_media_timeout_closes_the_call_and_frees_the_port(
    transport: RtpTransport, peer: socket.socket
) -> None:
    opened = await transport.open_call({"media_timeout_s": 0.3})
    await send_paced(peer, opened.port, [rtp(1 + i, 160 * i, frame(i)) for i in range(3)])
    call = fake(opened)
    await asyncio.wait_for(call.wait_closed(), 2.0)
    assert call.close_reasons == ["media_timeout"]
    await opened.endpoint.wait_released()
    assert opened.endpoint.closed
    assert transport.pool.in_use == 0
    # The port is really closed: it can be bound again.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind(("127.0.0.1", opened.port))


async def test_media_timeout_reports_a_digit_whose_end_never_came(
    transport: RtpTransport, peer: socket.socket
) -> None:
    opened = await transport.open_call({"media_timeout_s": 0.3})
    audio = [rtp(1 + i, 160 * i, frame(i)) for i in range(3)]
    await send_paced(peer, opened.port, [*audio, *dtmf_packets(11, 4, 480)[:3]])
    call = fake(opened)
    assert call.digits == []
    await asyncio.wait_for(call.wait_closed(), 2.0)
    assert call.digits == ["#"]
    assert call.close_reasons == ["media_timeout"]


async def test_closing_the_call_frees_the_port(transport: RtpTransport) -> None:
    opened = await transport.open_call({})
    assert transport.pool.in_use == 1
    assert transport.endpoint_for(opened.call.id) is opened.endpoint
    await opened.call.close()
    assert opened.endpoint.closed
    await opened.endpoint.wait_released()
    assert transport.pool.in_use == 0
    assert transport.endpoints() == []
    with pytest.raises(KeyError):
        transport.endpoint_for(opened.call.id)


async def test_busy_port_is_skipped(transport: RtpTransport) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", transport.settings.port_min))
        opened = await transport.open_call({})
        assert opened.port != transport.settings.port_min
        assert transport.pool.in_use == 1


@pytest.mark.parametrize(
    ("request_body", "error"),
    [
        ({"codec": "opus"}, ValueError),  # refused by the format, before any port
        ({"bad": 1}, ValueError),  # refused by the call manager, after binding
        ({"media_timeout_s": 0}, ValueError),
        ({"allowed_sources": "10.0.0.0/8"}, ValueError),
    ],
)
async def test_failures_mid_creation_leak_nothing(
    transport: RtpTransport, request_body: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        await transport.open_call(request_body)
    assert transport.pool.in_use == 0
    assert transport.endpoints() == []


async def test_refused_call_and_exhaustion(
    transport: RtpTransport, manager: FakeCallManager
) -> None:
    manager.fail = REFUSED
    with pytest.raises(type(REFUSED)):
        await transport.open_call({})
    assert transport.pool.in_use == 0
    manager.fail = None
    opened = [await transport.open_call({}) for _ in range(len(transport.pool))]
    with pytest.raises(PortsExhausted):
        await transport.open_call({})
    for item in opened:
        await item.call.close()
        await item.endpoint.wait_released()
    assert transport.pool.in_use == 0


async def test_many_create_close_cycles_with_failures(
    transport: RtpTransport, manager: FakeCallManager
) -> None:
    rng = random.Random(5)
    live: list[RtpCall] = []
    for _ in range(300):
        action = rng.random()
        if action < 0.15:
            manager.fail = REFUSED if rng.random() < 0.5 else ValueError("bad option")
        try:
            if action < 0.6 and len(live) < len(transport.pool):
                live.append(await transport.open_call({}))
            elif live:
                closing = live.pop(rng.randrange(len(live)))
                await closing.call.close()
                await closing.endpoint.wait_released()
        except (ValueError, type(REFUSED)):
            pass
        manager.fail = None
        assert transport.pool.in_use == len(live) == len(transport.endpoints())
    for item in live:
        await item.call.close()


async def test_unusable_bind_address_is_an_error_not_exhaustion(
    manager: FakeCallManager,
) -> None:
    low, high = port_range(4)
    settings = RtpSettings(bind_host="192.0.2.1", port_min=low, port_max=high)  # not ours
    rtp_transport = RtpTransport(settings, manager)
    with pytest.raises(OSError, match="assign"):
        await rtp_transport.open_call({})
    assert rtp_transport.pool.in_use == 0


async def test_call_allowlist_narrows_the_server_allowlist(manager: FakeCallManager) -> None:
    low, high = port_range(4)
    settings = RtpSettings(port_min=low, port_max=high, allowed_sources=("127.0.0.0/8",))
    rtp_transport = RtpTransport(settings, manager)
    try:
        with pytest.raises(ValueError, match="outside the server"):
            await rtp_transport.open_call({"allowed_sources": ["10.0.0.0/8"]})
        opened = await rtp_transport.open_call({"allowed_sources": ["127.0.0.2/32"]})
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for i in range(5):
                sock.sendto(rtp(i, 160 * i, frame(i)), ("127.0.0.1", opened.port))
            await asyncio.sleep(0.1)
        assert opened.endpoint.stats()["packets_rejected"] == 5
        assert opened.endpoint.receiver.source is None
    finally:
        await rtp_transport.close()
    assert rtp_transport.pool.in_use == 0


async def test_symmetric_rtp_goes_back_to_the_latched_source(
    transport: RtpTransport, peer: socket.socket
) -> None:
    opened = await transport.open_call({"codec": "PCMA"})
    with pytest.raises(NotLatched):
        opened.endpoint.sender()
    await send_paced(
        peer, opened.port, [rtp(1 + i, 160 * i, b"\xd5" * 160, payload_type=8) for i in range(3)]
    )
    sender = opened.endpoint.sender()
    sender.send(bytes(320 * 5))
    await asyncio.wait_for(sender.drained(), 2.0)
    loop = asyncio.get_running_loop()
    received = []
    for _ in range(5):
        data, addr = await asyncio.wait_for(loop.sock_recvfrom(peer, 2048), 1.0)
        assert addr == ("127.0.0.1", opened.port)
        received.append(RtpPacket.parse(data))
    assert [p.payload_type for p in received] == [8] * 5
    assert received[0].marker
    assert opened.endpoint.stats()["packets_sent"] == 5


async def test_ended_calls_are_counted_in_prometheus(
    manager: FakeCallManager, peer: socket.socket
) -> None:
    low, high = port_range(4)
    metrics = Metrics()
    rtp_transport = RtpTransport(RtpSettings(port_min=low, port_max=high), manager, metrics)
    opened = await rtp_transport.open_call({})
    assert metrics.registry.get_sample_value("mediaserver_rtp_ports_in_use") == 1
    packets = [rtp(1 + i, 160 * i, frame(i)) for i in range(6) if i != 4]
    await send_paced(peer, opened.port, [*packets, b"junk"])
    await asyncio.sleep(0.2)  # past the jitter delay: every packet has played
    await opened.call.close()
    await opened.endpoint.wait_released()

    def sample(outcome: str) -> float | None:
        labels = {"outcome": outcome}
        return metrics.registry.get_sample_value("mediaserver_rtp_packets_total", labels)

    assert sample("received") == 5
    assert sample("played") == 5
    assert sample("lost") == 1
    assert sample("malformed") == 1
    assert sample("rejected") is None  # never incremented
    assert sample("discarded") is None
    # The lost packet's slot, concealed between packets 3 and 5.
    concealed = metrics.registry.get_sample_value("mediaserver_rtp_concealed_seconds_total")
    assert concealed == pytest.approx(0.020)
    assert metrics.registry.get_sample_value("mediaserver_rtp_ports_in_use") == 0
    await rtp_transport.close()


def test_a_stalled_event_loop_is_not_a_media_timeout(manager: FakeCallManager) -> None:
    """Media silence is counted only while the loop runs: a stall longer than the timeout
    (a thread holding the GIL) must not end the call. On uvloop, as the server runs."""

    async def scenario() -> FakeCall:
        low, high = port_range(4)
        rtp_transport = RtpTransport(RtpSettings(port_min=low, port_max=high), manager)
        opened = await rtp_transport.open_call({"media_timeout_s": 0.3})
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            target = ("127.0.0.1", opened.port)
            for i in range(3):
                sock.sendto(rtp(1 + i, 160 * i, frame(i)), target)
            await asyncio.sleep(0.1)
            time.sleep(0.6)  # noqa: ASYNC251 - the stall under test
            await asyncio.sleep(0.1)
            for i in range(3, 6):
                sock.sendto(rtp(1 + i, 160 * i, frame(i)), target)
            await asyncio.sleep(0.05)
        call = fake(opened)
        await rtp_transport.close()
        return call

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        call = runner.run(scenario())
    assert call.close_reasons == []
