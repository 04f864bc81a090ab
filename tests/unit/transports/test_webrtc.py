"""The WebRTC transport against an aiortc peer in the same process (loopback, no STUN)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import numpy as np
import pytest

from mediaserver.calls.manager import CallRefused, Transport
from mediaserver.transports.webrtc import SdpError, WebRtcGateway
from tests.fake_calls import FakeCall, FakeCallManager
from tests.unit.transports.webrtc_client import TONE_HZ, Client, until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def gateway() -> AsyncIterator[WebRtcGateway]:
    gw = WebRtcGateway()
    try:
        yield gw
    finally:
        await gw.close()


Connect = Callable[..., Awaitable[tuple[Client, FakeCall]]]


@pytest.fixture
async def connect(gateway: WebRtcGateway) -> AsyncIterator[Connect]:
    clients: list[Client] = []
    manager = FakeCallManager()

    async def run(codec: str | None = None, **options: Any) -> tuple[Client, FakeCall]:
        client = Client(codec)
        clients.append(client)
        answer = await gateway.answer(manager, await client.offer(), "offer", options)
        assert answer.type == "answer"
        await client.accept(answer.sdp)
        call = manager.created[-1]
        assert (answer.call_id, answer.events_url) == (call.id, call.events_url)
        return client, call

    try:
        yield run
    finally:
        for client in clients:
            await client.pc.close()


def dominant_hz(pcm: bytes, rate: int) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


async def test_opus_audio_reaches_the_call_as_mono_48k(connect: Connect) -> None:
    _, call = await connect(model="tiny")
    assert call.options == {"model": "tiny"}
    assert call.transport == Transport.WEBRTC
    assert call.transport_info.codec == "opus"
    await until(lambda: len(call.pcm(48000)) >= 2 * 48000)
    assert {rate for _, rate in call.fed} == {48000}
    pcm = call.pcm(48000)
    # The middle second: past the decoder's start-up, whole 20 ms frames.
    middle = pcm[48000 : 3 * 48000]
    assert dominant_hz(middle, 48000) == pytest.approx(TONE_HZ, abs=2)
    level = np.sqrt(np.mean(np.frombuffer(middle, dtype="<i2").astype(np.float64) ** 2))
    assert 8000 / np.sqrt(2) * 0.7 < level < 8000 / np.sqrt(2) * 1.3  # mono kept its level
    stats = call.transport_info.stats
    assert stats is not None
    assert stats()["frames_received"] >= 50


async def test_pcmu_audio_arrives_at_8k(connect: Connect) -> None:
    _, call = await connect("PCMU")
    assert call.transport_info.codec == "PCMU"
    await until(lambda: len(call.pcm(8000)) >= 2 * 8000)
    assert {rate for _, rate in call.fed} == {8000}
    assert dominant_hz(call.pcm(8000)[:16000], 8000) == pytest.approx(TONE_HZ, abs=2)


async def test_events_go_out_on_the_data_channel_and_close_ends_everything(
    connect: Connect, gateway: WebRtcGateway
) -> None:
    client, call = await connect()
    # Emitted before the channel is open: held until it is.
    call.emit({"type": "session.created"})
    await until(lambda: "session.created" in client.types())
    client.channel.send(json.dumps({"type": "input_audio_buffer.commit"}))
    await until(lambda: call.commits == 1)
    client.channel.send(json.dumps({"type": "session.close"}))
    await until(lambda: "session.closed" in client.types())
    assert call.close_reasons[0] == "requested"
    assert client.events[-1] == {
        "type": "session.closed",
        "reason": "requested",
        "call_id": call.id,
    }
    await until(lambda: client.pc.connectionState == "closed" and gateway.peer_count == 0)
    assert all(sub.closed for sub in call.subscriptions)


async def test_bad_commands_are_answered_with_an_error_event(connect: Connect) -> None:
    client, call = await connect()
    await until(lambda: client.channel.readyState == "open")
    client.channel.send("not json")
    client.channel.send(json.dumps({"type": "launch.rockets"}))
    client.channel.send(json.dumps([1, 2]))
    client.channel.send("[" * 20000)  # nested past Python's recursion limit
    await until(lambda: client.types().count("error") == 4)
    errors = [e for e in client.events if e["type"] == "error"]
    assert {e["code"] for e in errors} == {"unknown_command"}
    assert all(e["recoverable"] for e in errors)
    assert call.state == "active"
    stats = call.transport_info.stats
    assert stats is not None
    assert stats()["commands_rejected"] == 4


async def test_peer_hanging_up_closes_the_call(connect: Connect, gateway: WebRtcGateway) -> None:
    client, call = await connect()
    await until(lambda: len(call.fed) > 5)
    await client.pc.close()
    await until(lambda: call.state == "closed")
    assert call.close_reasons[0] in ("peer_closed", "media_ended")
    await until(lambda: gateway.peer_count == 0)


async def test_gateway_close_ends_live_calls(connect: Connect, gateway: WebRtcGateway) -> None:
    client, call = await connect()
    await until(lambda: len(call.fed) > 5)
    await gateway.close()
    assert call.close_reasons[0] == "shutdown"
    assert gateway.peer_count == 0
    await until(lambda: client.pc.connectionState == "closed")


GARBAGE_OFFERS = [
    ("", "offer", "offer must have one audio section"),
    ("v=0\r\n", "offer", "offer must have one audio section"),
    ("m=audio x", "offer", "offer SDP is malformed"),
]


@pytest.mark.parametrize(("sdp", "sdp_type", "message"), GARBAGE_OFFERS)
async def test_bad_sdp_is_refused(
    gateway: WebRtcGateway, sdp: str, sdp_type: str, message: str
) -> None:
    manager = FakeCallManager()
    with pytest.raises(SdpError, match=message):
        await gateway.answer(manager, sdp, sdp_type, {})
    assert manager.created == []


async def test_offer_must_be_an_offer_with_audio(gateway: WebRtcGateway) -> None:
    manager = FakeCallManager()
    audio = Client()
    data_only = Client(audio=False)
    try:
        with pytest.raises(SdpError, match="type must be 'offer'"):
            await gateway.answer(manager, await audio.offer(), "answer", {})
        with pytest.raises(SdpError, match="one audio section, it has 0"):
            await gateway.answer(manager, await data_only.offer(), "offer", {})
        listening = (await audio.offer()).replace("a=sendonly", "a=recvonly")
        with pytest.raises(SdpError, match="offer audio is recvonly"):
            await gateway.answer(manager, listening, "offer", {})
        no_ice = (await audio.offer()).replace("a=ice-ufrag", "a=x-ufrag")
        with pytest.raises(SdpError, match="cannot be answered"):
            await gateway.answer(manager, no_ice, "offer", {})
    finally:
        await audio.pc.close()
        await data_only.pc.close()
    assert manager.created == []
    assert gateway.peer_count == 0


async def test_option_errors_and_refusals_leave_nothing_running(gateway: WebRtcGateway) -> None:
    client = Client()
    try:
        sdp = await client.offer()
        with pytest.raises(ValueError, match="unknown model") as bad:
            await gateway.answer(FakeCallManager(), sdp, "offer", {"model": "bad"})
        assert not isinstance(bad.value, SdpError)
        refusing = FakeCallManager()
        refusing.fail = CallRefused(503, "draining", "the server is draining")
        with pytest.raises(CallRefused):
            await gateway.answer(refusing, sdp, "offer", {})
    finally:
        await client.pc.close()
    assert gateway.peer_count == 0
