"""Engine workers over gRPC: the wire messages, the worker process, its client."""
