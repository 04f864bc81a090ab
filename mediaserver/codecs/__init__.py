"""Pure wire formats: RTP, G.711, RFC 4733 DTMF, jitter buffer, AudioSocket framing."""
