"""An aiortc peer standing in for a browser: sends a tone, opens the `events` channel."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import numpy as np
from aiortc import (
    AudioStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from av import AudioFrame

TONE_HZ = 440.0


class ToneTrack(AudioStreamTrack):
    """aiortc's paced silence source, filled with a sine tone."""

    def __init__(self) -> None:
        super().__init__()
        self._phase = 0

    async def recv(self) -> AudioFrame:
        frame = await super().recv()
        assert isinstance(frame, AudioFrame)
        n = frame.samples
        t = (np.arange(n) + self._phase) / frame.sample_rate
        self._phase += n
        tone = (8000 * np.sin(2 * np.pi * TONE_HZ * t)).astype("<i2")
        frame.planes[0].update(tone.tobytes())
        return frame


class Client:
    """A browser stand-in: sends a tone, opens the `events` channel, records what it receives."""

    def __init__(
        self, codec: str | None = None, *, audio: bool = True, direction: str = "sendonly"
    ) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.channel: RTCDataChannel = self.pc.createDataChannel("events")
        self.events: list[dict[str, Any]] = []
        self.channel.on("message", lambda m: self.events.append(json.loads(m)))
        if audio:
            transceiver = self.pc.addTransceiver(ToneTrack(), direction=direction)
            if codec is not None:
                caps = RTCRtpSender.getCapabilities("audio").codecs
                transceiver.setCodecPreferences([c for c in caps if c.name == codec])

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]


async def until(check: Callable[[], bool], limit_s: float = 15.0) -> None:
    """Poll a condition that callbacks elsewhere make true (there is no event to wait on)."""
    async with asyncio.timeout(limit_s):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
