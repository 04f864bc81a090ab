"""mediaserver: a realtime voice media server for telephony."""

__version__ = "0.1.0"
