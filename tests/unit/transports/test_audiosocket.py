from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from mediaserver.calls.manager import CallRefused, Transport
from mediaserver.codecs.audiosocket import (
    Audio,
    AudioSocketParser,
    Hangup,
    Message,
    PeerError,
    encode_audio,
    encode_dtmf,
    encode_error,
    encode_hangup,
    encode_uuid,
)
from mediaserver.config import AudioSocketSettings
from mediaserver.observability import Metrics
from mediaserver.transports import audiosocket
from mediaserver.transports.audiosocket import AudioSocketServer, codec_name
from tests.fake_calls import FakeCallManager

pytestmark = pytest.mark.timeout(20)

CALL = uuid.UUID("4c2b8c2e-4f1d-4a53-9a3c-0f6f2d1e7b10")
OTHER = uuid.UUID("0a0b0c0d-0e0f-4011-8213-141516171819")
PCM_20MS_8K = bytes(range(256)) + bytes(64)  # 160 samples
PCM_20MS_16K = bytes(640)


class Peer:
    """An Asterisk stand-in: a TCP client speaking AudioSocket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = AudioSocketParser()

    async def send(self, *frames: bytes) -> None:
        self.writer.write(b"".join(frames))
        await self.writer.drain()

    async def until_eof(self) -> list[Message]:
        """Every message the server sends until it closes the connection."""
        messages: list[Message] = []
        async with asyncio.timeout(5):
            while data := await self.reader.read(65536):
                messages += self.parser.feed(data)
        return messages

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def manager() -> FakeCallManager:
    return FakeCallManager()


@pytest.fixture
async def server(manager: FakeCallManager, metrics: Metrics) -> AsyncIterator[AudioSocketServer]:
    srv = AudioSocketServer(AudioSocketSettings(host="127.0.0.1"), manager, metrics)
    await srv.start(port=0)
    try:
        yield srv
    finally:
        await srv.stop()


Connect = Callable[[AudioSocketServer], Awaitable[Peer]]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    peers: list[Peer] = []

    async def open_peer(server: AudioSocketServer) -> Peer:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        peers.append(Peer(reader, writer))
        return peers[-1]

    try:
        yield open_peer
    finally:
        for peer in peers:
            peer.writer.close()
            with contextlib.suppress(ConnectionError):
                await peer.writer.wait_closed()


def count(metrics: Metrics, name: str) -> float:
    value = metrics.registry.get_sample_value(f"mediaserver_{name}_total")
    assert value is not None
    return value


@pytest.mark.parametrize(
    ("rate", "name"),
    [(8000, "slin"), (16000, "slin16"), (44100, "slin44"), (48000, "slin48"), (192000, "slin192")],
)
def test_codec_name(rate: int, name: str) -> None:
    assert codec_name(rate) == name


async def test_call_from_uuid_audio_dtmf_and_hangup(
    server: AudioSocketServer, manager: FakeCallManager, metrics: Metrics, connect: Connect
) -> None:
    peer = await connect(server)
    await peer.send(encode_uuid(CALL), encode_audio(PCM_20MS_8K), encode_dtmf("5"))
    call = await manager.live(str(CALL))
    bad_digit = b"\x03\x00\x01x"  # well framed, but not a DTMF digit: counted and skipped
    await peer.send(encode_audio(PCM_20MS_8K[::-1]), bad_digit, encode_dtmf("#"), encode_hangup())
    assert [type(m) for m in await peer.until_eof()] == [Hangup]
    assert call.transport is Transport.AUDIOSOCKET
    assert call.transport_info.codec == "slin"
    local = peer.writer.get_extra_info("sockname")
    assert call.transport_info.remote == f"{local[0]}:{local[1]}"
    assert call.fed == [(PCM_20MS_8K, 8000), (PCM_20MS_8K[::-1], 8000)]
    assert call.digits == ["5", "#"]
    assert call.close_reasons == ["requested"]
    assert call.transport_info.stats is not None
    stats = call.transport_info.stats()
    assert stats["frames_received"] == 2
    assert stats["bytes_received"] == 2 * len(PCM_20MS_8K)
    assert stats["dtmf_received"] == 2
    assert stats["dtmf_rejected"] == 1
    assert stats["protocol_errors"] == 0
    assert count(metrics, "audiosocket_connections") == 1


async def test_higher_rate_frames_and_byte_by_byte_delivery(
    server: AudioSocketServer, manager: FakeCallManager, connect: Connect
) -> None:
    peer = await connect(server)
    stream = encode_uuid(CALL) + encode_audio(PCM_20MS_16K, 16000) * 3
    for i in range(len(stream)):
        peer.writer.write(stream[i : i + 1])
        if i % 97 == 0:
            await peer.writer.drain()
    await peer.writer.drain()
    call = await manager.live(str(CALL))
    await manager.wait_until(lambda: len(call.fed) == 3)
    assert call.transport_info.codec == "slin16"
    assert call.fed == [(PCM_20MS_16K, 16000)] * 3
    peer.close()  # a socket closed without a hangup frame ends the call too
    await asyncio.wait_for(call.wait_closed(), 5)


async def test_first_frame_must_be_the_uuid(
    server: AudioSocketServer, manager: FakeCallManager, metrics: Metrics, connect: Connect
) -> None:
    peer = await connect(server)
    await peer.send(encode_audio(PCM_20MS_8K))
    assert await peer.until_eof() == [PeerError(None)]
    assert manager.created == []
    assert count(metrics, "audiosocket_protocol_errors") == 1


async def test_garbage_mid_call_closes_that_connection_only(
    server: AudioSocketServer, manager: FakeCallManager, metrics: Metrics, connect: Connect
) -> None:
    good, bad = await connect(server), await connect(server)
    await good.send(encode_uuid(OTHER), encode_audio(PCM_20MS_8K))
    await bad.send(encode_uuid(CALL), encode_audio(PCM_20MS_8K))
    bad_call = await manager.live(str(CALL))
    good_call = await manager.live(str(OTHER))
    # A good frame then an unknown kind in the same segment: the good one is still delivered.
    await bad.send(encode_audio(PCM_20MS_8K[::-1]) + b"\x42\x00\x02\x00\x00")
    messages = await bad.until_eof()
    assert PeerError(None) in messages
    assert bad_call.fed == [(PCM_20MS_8K, 8000), (PCM_20MS_8K[::-1], 8000)]
    await asyncio.wait_for(bad_call.wait_closed(), 5)
    assert bad_call.transport_info.stats is not None
    assert bad_call.transport_info.stats()["protocol_errors"] == 1
    assert count(metrics, "audiosocket_protocol_errors") == 1
    # The other call carries on.
    await good.send(encode_audio(PCM_20MS_8K), encode_dtmf("1"))
    await manager.wait_until(lambda: len(good_call.fed) == 2 and good_call.digits == ["1"])
    assert not good_call.closed.is_set()
    good.close()


async def test_duplicate_uuid_of_a_live_call_is_refused(
    server: AudioSocketServer, manager: FakeCallManager, metrics: Metrics, connect: Connect
) -> None:
    first = await connect(server)
    await first.send(encode_uuid(CALL), encode_audio(PCM_20MS_8K))
    call = await manager.live(str(CALL))
    second = await connect(server)
    await second.send(encode_uuid(CALL), encode_audio(PCM_20MS_8K))
    assert await second.until_eof() == [PeerError(None)]
    assert len(manager.created) == 1
    assert count(metrics, "audiosocket_refused") == 1
    await first.send(encode_audio(PCM_20MS_8K))
    await manager.wait_until(lambda: len(call.fed) == 2)
    assert not call.closed.is_set()
    first.close()


async def test_refused_while_draining(
    server: AudioSocketServer, manager: FakeCallManager, metrics: Metrics, connect: Connect
) -> None:
    manager.fail = CallRefused(503, "draining", "the server is shutting down")
    peer = await connect(server)
    await peer.send(encode_uuid(CALL), encode_audio(PCM_20MS_8K))
    assert await peer.until_eof() == [PeerError(None)]
    assert count(metrics, "audiosocket_refused") == 1


async def test_hangup_before_any_audio_creates_no_call(
    server: AudioSocketServer, manager: FakeCallManager, connect: Connect
) -> None:
    peer = await connect(server)
    await peer.send(encode_uuid(CALL), encode_hangup())
    assert await peer.until_eof() == []
    assert manager.created == []


async def test_asterisk_error_frame_ends_the_call(
    server: AudioSocketServer, manager: FakeCallManager, connect: Connect
) -> None:
    peer = await connect(server)
    await peer.send(encode_uuid(CALL), encode_dtmf("9"))
    call = await manager.live(str(CALL))
    assert call.transport_info.codec == "slin"  # DTMF first: Asterisk's default slin assumed
    await peer.send(encode_error(0x01))
    await peer.until_eof()
    assert call.closed.is_set()


async def test_call_closed_on_our_side_hangs_up(
    server: AudioSocketServer, manager: FakeCallManager, connect: Connect
) -> None:
    peer = await connect(server)
    await peer.send(encode_uuid(CALL), encode_audio(PCM_20MS_8K))
    call = await manager.live(str(CALL))
    await call.close("requested")  # e.g. DELETE /v1/calls/{id} or a hold timeout
    assert await peer.until_eof() == [Hangup()]


async def test_audio_back_to_the_peer_in_20ms_frames(
    server: AudioSocketServer, manager: FakeCallManager, connect: Connect
) -> None:
    peer = await connect(server)
    await peer.send(encode_uuid(CALL), encode_audio(PCM_20MS_16K, 16000))
    await manager.live(str(CALL))
    connection = server.connection(str(CALL))
    pcm = bytes(range(256)) * 7  # 1792 bytes: 56 ms at 16 kHz
    connection.send_audio(pcm, 16000)
    await peer.send(encode_hangup())
    messages = await peer.until_eof()
    audio = [m for m in messages if isinstance(m, Audio)]
    assert [len(m.pcm) for m in audio] == [640, 640, 512]
    assert b"".join(m.pcm for m in audio) == pcm
    assert {m.sample_rate for m in audio} == {16000}
    with pytest.raises(KeyError):
        server.connection(str(OTHER))


async def test_silent_connection_times_out(
    server: AudioSocketServer,
    manager: FakeCallManager,
    monkeypatch: pytest.MonkeyPatch,
    connect: Connect,
) -> None:
    monkeypatch.setattr(audiosocket, "FIRST_MESSAGE_TIMEOUT_S", 0.1)
    peer = await connect(server)
    assert await peer.until_eof() == []
    assert manager.created == []


async def test_stop_closes_live_calls(
    manager: FakeCallManager, metrics: Metrics, connect: Connect
) -> None:
    srv = AudioSocketServer(AudioSocketSettings(), manager, metrics)
    await srv.start(port=0)
    peer = await connect(srv)
    await peer.send(encode_uuid(CALL), encode_audio(PCM_20MS_8K))
    call = await manager.live(str(CALL))
    await srv.stop()
    assert call.closed.is_set()
    assert await peer.until_eof() == [Hangup()]
    with pytest.raises(RuntimeError):
        _ = srv.port
