"""WebRTC calls through aiortc: one peer connection per call, audio in, events out.

`WebRtcGateway.answer` takes a browser's offer, answers it (audio in, and TTS out when the offer
can receive it, see `webrtc_out`; Opus, G.722,
PCMU or PCMA, whichever the offer prefers; RFC 4733 telephone-event when offered) and starts a
call. Then, per call: a task reads the remote track and feeds mono PCM16 to `Call.feed`; a task
forwards the call's events as JSON text on the offerer's data channel named ``events``; text the
page sends on that channel is read as JSON commands. The call ends when the page asks, when the
connection fails or closes, or when the call core closes it; the peer connection is closed after
the last event (``session.closed``) has been handed to the channel.

ICE uses host candidates only unless STUN/TURN servers are given: on loopback and on a LAN that
is all it takes, with no network access.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from aiortc import (
    InvalidAccessError,
    InvalidStateError,
    MediaStreamError,
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.exceptions import OperationError
from av import AudioFrame

from mediaserver.calls.audio_sink import NoAudioPath
from mediaserver.calls.manager import Call, CallManager, Subscription, Transport, TransportInfo
from mediaserver.calls.speaker import SpeakError
from mediaserver.codecs.bounded_json import JsonError, parse_json
from mediaserver.transports.realtime_protocol import ProtocolError, parse_speak
from mediaserver.transports.webrtc_media import (
    TelephoneEventTap,
    frame_to_pcm16,
    register_telephone_event,
    summarize_sdp,
)
from mediaserver.transports.webrtc_out import SpeakerTrack
from mediaserver.transports.webrtc_tasks import quiet_aiortc_task_errors

log = structlog.get_logger("mediaserver.transports.webrtc")

EVENTS_CHANNEL = "events"
# After the call is closed, how long its last events may take to leave on the data channel.
FLUSH_TIMEOUT_S = 2.0
# A browser sends audio every 20 ms for the whole call (silence included); one that stops for
# this long is gone (killed, offline). Without it the call would last until ICE consent fails,
# ~30 s later.
MEDIA_TIMEOUT_S = 5.0


class SdpError(ValueError):
    """The offer cannot be answered: malformed SDP, no audio, not an offer. The peer's fault."""


@dataclass(frozen=True, slots=True)
class Answer:
    sdp: str
    call_id: str
    events_url: str
    type: str = "answer"

    def to_json(self) -> dict[str, str]:
        return {
            "sdp": self.sdp,
            "type": self.type,
            "id": self.call_id,
            "events_url": self.events_url,
        }


Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]


class WebRtcGateway:
    """Answers offers and owns the peer connections of live WebRTC calls."""

    def __init__(
        self, *, ice_servers: Sequence[RTCIceServer] = (), media_timeout_s: float = MEDIA_TIMEOUT_S
    ) -> None:
        self._ice_servers = list(ice_servers)
        self._media_timeout_s = media_timeout_s
        self._peers: dict[str, _Peer] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.dtmf_supported = register_telephone_event()

    @property
    def peer_count(self) -> int:
        return len(self._peers)

    async def answer(
        self, calls: CallManager, sdp: str, sdp_type: str, options: Mapping[str, Any]
    ) -> Answer:
        """Answer an offer and start its call. Raises `SdpError` for a bad offer, `ValueError`
        for bad call options and `CallRefused` from the call manager; nothing is left running
        after any of them."""
        if sdp_type != "offer":
            raise SdpError(f"type must be 'offer', got {sdp_type!r}")
        try:
            offered = summarize_sdp(sdp)
        except ValueError as exc:
            raise SdpError(f"offer {exc}") from exc
        if len(offered.audio) != 1:
            raise SdpError(f"offer must have one audio section, it has {len(offered.audio)}")
        if not offered.audio[0].sends:
            raise SdpError(f"offer audio is {offered.audio[0].direction}: it must send audio")
        pc = RTCPeerConnection(RTCConfiguration(iceServers=self._ice_servers))
        try:
            peer = await self._negotiate(pc, sdp)
            info = TransportInfo(codec=peer.codec, stats=peer.stats, audio_out=peer.audio_sink)
            call = calls.create(Transport.WEBRTC, options, info)
        except BaseException:
            await pc.close()
            raise
        subscription = call.subscribe() if offered.has_data_channel else None
        self._peers[call.id] = peer
        self._spawn(self._run(peer, call, subscription))
        log.info("webrtc.call_started", call_id=call.id, codec=peer.codec, dtmf=peer.dtmf)
        return Answer(sdp=pc.localDescription.sdp, call_id=call.id, events_url=call.events_url)

    async def _negotiate(self, pc: RTCPeerConnection, sdp: str) -> _Peer:
        # sendrecv: the answer sends our TTS track when the offer can receive (the demo page
        # offers sendrecv); to a send-only offer it answers recvonly and the call is mute.
        peer = _Peer(pc, self._spawn, self._media_timeout_s)
        quiet_aiortc_task_errors(asyncio.get_running_loop())
        transceiver = pc.addTransceiver(peer.out, direction="sendrecv")
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        # aiortc reports an offer it cannot use with these (and asserts inside its SDP code).
        except (ValueError, AssertionError, InvalidAccessError, OperationError) as exc:
            raise SdpError(f"offer cannot be answered: {exc or type(exc).__name__}") from exc
        answered = summarize_sdp(pc.localDescription.sdp).audio[0]
        peer.codec = answered.codec
        peer.sends = answered.sends
        if answered.telephone_event_types and self.dtmf_supported:
            peer.tap = TelephoneEventTap(answered.telephone_event_types, peer.on_digit)
            peer.tap.install(transceiver.receiver)
        peer.track = transceiver.receiver.track
        return peer

    async def _run(self, peer: _Peer, call: Call, subscription: Subscription | None) -> None:
        try:
            await peer.run(call, subscription)
        finally:
            self._peers.pop(call.id, None)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("webrtc.task_failed", error=repr(exc))

    async def close(self) -> None:
        """Server shutdown: end every call (last events still go out), then the connections."""
        for peer in list(self._peers.values()):
            peer.request_close("shutdown")
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=FLUSH_TIMEOUT_S + 1.0)
        for task in set(self._tasks):
            task.cancel()
        for peer in list(self._peers.values()):
            await peer.pc.close()
        self._peers.clear()


class _Peer:
    """One call's peer connection: media in, events out, commands in."""

    def __init__(self, pc: RTCPeerConnection, spawn: Spawn, media_timeout_s: float) -> None:
        self.pc = pc
        self.media_timeout_s = media_timeout_s
        self.codec = ""
        self.tap: TelephoneEventTap | None = None
        self.track: MediaStreamTrack | None = None
        self.out = SpeakerTrack()  # the call's TTS, pulled by aiortc's sender
        self.sends = False  # whether the answer sends audio (the offer can receive it)
        self.call: Call | None = None
        self.frames_received = 0
        self.samples_received = 0
        self.sample_rate = 0
        self.frames_rejected = 0
        self.commands_rejected = 0
        self._spawn = spawn
        self._channel: asyncio.Future[RTCDataChannel] = asyncio.get_running_loop().create_future()
        pc.on("datachannel", self._on_datachannel)
        pc.on("connectionstatechange", self._on_connection_state)

    @property
    def dtmf(self) -> bool:
        return self.tap is not None

    def stats(self) -> Mapping[str, int | float]:
        audio_ms = self.samples_received * 1000 // self.sample_rate if self.sample_rate else 0
        return {
            "frames_received": self.frames_received,
            "audio_ms_received": audio_ms,
            "frames_rejected": self.frames_rejected,
            "dtmf_malformed": self.tap.malformed if self.tap else 0,
            "commands_rejected": self.commands_rejected,
        }

    def audio_sink(self) -> SpeakerTrack:
        """The call's TTS way out (`TransportInfo.audio_out`)."""
        if not self.sends:
            raise NoAudioPath("the WebRTC offer does not receive audio (offer sendrecv)")
        if self.pc.connectionState in ("failed", "closed"):
            raise NoAudioPath("the WebRTC connection is closed")
        return self.out

    async def run(self, call: Call, subscription: Subscription | None) -> None:
        self.call = call
        reader = self._spawn(self._read_audio(call))
        forwarder = self._spawn(self._forward(subscription)) if subscription else None
        try:
            await call.wait_closed()
            if forwarder is not None:
                await asyncio.wait({forwarder}, timeout=FLUSH_TIMEOUT_S)
                await self._drained()
        finally:
            reader.cancel()
            if forwarder is not None:
                forwarder.cancel()
            if subscription is not None:
                subscription.close()
            self.out.stop()
            await self.pc.close()
            log.info("webrtc.call_ended", call_id=call.id, frames=self.frames_received)

    async def _read_audio(self, call: Call) -> None:
        assert self.track is not None
        while True:
            # Counted from the first frame on: before it, ICE and DTLS set the pace.
            limit = self.media_timeout_s if self.frames_received else None
            try:
                async with asyncio.timeout(limit):
                    frame = await self.track.recv()
            except MediaStreamError:
                break
            except TimeoutError:
                log.info("webrtc.media_timeout", call_id=call.id, timeout_s=limit)
                await call.close("media_timeout")
                return
            if not isinstance(frame, AudioFrame):
                self.frames_rejected += 1
                continue
            try:
                pcm = frame_to_pcm16(frame)
            except ValueError:
                self.frames_rejected += 1
                continue
            self.frames_received += 1
            self.sample_rate = frame.sample_rate
            self.samples_received += len(pcm) // 2
            call.feed(pcm, frame.sample_rate)
        # The remote track ended (RTCP BYE, transport gone): nothing more will come.
        if self.tap is not None:
            self.tap.flush()
        await call.close("media_ended")

    async def _forward(self, subscription: Subscription) -> None:
        channel = await self._channel
        async for event in subscription:
            if channel.readyState != "open":
                break
            channel.send(json.dumps(event, separators=(",", ":"), ensure_ascii=False))

    async def _drained(self) -> None:
        """Wait (bounded) until the channel has handed everything queued to SCTP."""
        if not self._channel.done():
            return
        channel = self._channel.result()
        if channel.readyState != "open" or channel.bufferedAmount == 0:
            return
        drained = asyncio.Event()
        channel.on("bufferedamountlow", drained.set)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(drained.wait(), timeout=FLUSH_TIMEOUT_S)

    def on_digit(self, digit: str) -> None:
        if self.call is not None:
            self.call.dtmf(digit)

    def request_close(self, reason: str) -> None:
        if self.call is not None and self.call.state != "closed":
            self._spawn(self.call.close(reason))

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != EVENTS_CHANNEL or self._channel.done():
            return
        channel.on("message", self._on_message)
        if channel.readyState == "open":
            self._channel.set_result(channel)
            return

        def opened() -> None:
            if not self._channel.done():
                self._channel.set_result(channel)

        channel.on("open", opened)

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        if state in ("failed", "closed"):
            self.request_close("connection_failed" if state == "failed" else "peer_closed")

    def _on_message(self, message: str | bytes) -> None:
        """A JSON command from the page; anything else is answered with an `error` event."""
        call = self.call
        if call is None:
            return
        try:
            # Bounded nesting: deep JSON from the page must not reach aiortc's SCTP loop.
            command = parse_json(message if isinstance(message, str) else bytes(message))
            kind = command.get("type") if isinstance(command, dict) else None
        except JsonError:
            kind = None
        if kind == "session.close":
            self.request_close("requested")
        elif kind == "input_audio_buffer.commit":
            call.commit()
        elif kind == "tts.speak":
            self._speak(call, command)
        elif kind == "tts.cancel":
            with contextlib.suppress(NoAudioPath):
                call.speaker.cancel()
        else:
            self.commands_rejected += 1
            self._send_error(call, "unknown_command", "expected a JSON object with a known type")

    def _speak(self, call: Call, command: dict[str, Any]) -> None:
        try:
            speak = parse_speak(command)
            call.speaker.speak(speak.text, speak.voice, speak.speed)
        except ProtocolError as exc:
            self._send_error(call, exc.code, exc.message)
        except SpeakError as exc:
            self._send_error(call, "invalid_speak", str(exc))
        except NoAudioPath as exc:
            self._send_error(call, "tts_unavailable", str(exc))

    def _send_error(self, call: Call, code: str, message: str) -> None:
        if not self._channel.done():
            return
        channel = self._channel.result()
        error = {
            "type": "error",
            "call_id": call.id,
            "code": code,
            "message": message,
            "recoverable": True,
        }
        with contextlib.suppress(InvalidStateError):
            channel.send(json.dumps(error, separators=(",", ":")))
