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


class PcmTrack(AudioStreamTrack):
    """aiortc's paced 8 kHz silence source, carrying `pcm` (8 kHz int16) once, then silence;
    `done` is set when the last sample has been sent."""

    def __init__(self, pcm: np.ndarray) -> None:
        super().__init__()
        self._pcm = pcm.astype("<i2")
        self._at = 0
        self.done = asyncio.Event()

    async def recv(self) -> AudioFrame:
        frame = await super().recv()
        assert isinstance(frame, AudioFrame)
        assert frame.sample_rate == 8000
        chunk = self._pcm[self._at : self._at + frame.samples]
        self._at += frame.samples
        if len(chunk):
            padded = np.zeros(frame.samples, "<i2")
            padded[: len(chunk)] = chunk
            frame.planes[0].update(padded.tobytes())
        elif not self.done.is_set():
            self.done.set()
        return frame


class Client:
    """A browser stand-in: sends a tone (or `track`), opens the `events` channel, records what
    it receives."""

    def __init__(
        self,
        codec: str | None = None,
        *,
        audio: bool = True,
        direction: str = "sendonly",
        track: AudioStreamTrack | None = None,
    ) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.channel: RTCDataChannel = self.pc.createDataChannel("events")
        self.events: list[dict[str, Any]] = []
        self.channel.on("message", lambda m: self.events.append(json.loads(m)))
        if audio:
            source = track if track is not None else ToneTrack()
            transceiver = self.pc.addTransceiver(source, direction=direction)
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
