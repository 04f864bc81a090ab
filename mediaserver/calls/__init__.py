"""The per-call runtime: one `Call` per live call, owned by the `CallManager`."""
