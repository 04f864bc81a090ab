"""asyncio adapters that carry call audio: RTP, AudioSocket, WebRTC, WebSocket."""
