"""RTP/G.711 calls: ports, latching, jitter buffer, DTMF, paced output."""
