"""HTTP and WebSocket routes; errors are mapped to responses in one place."""
