"""Where the verbs that talk to a running server (`ps`, `events`) find it, and their key.

`--url` wins; otherwise the server this configuration would start (`[server] host`/`port`, so
`MEDIASERVER_SERVER__PORT` and `--config` apply), a wildcard listen address read as loopback.
The key is the first of `MEDIASERVER_API_KEYS`, sent as a header (never in a URL).
"""

from __future__ import annotations

import argparse
from urllib.parse import urlsplit

from mediaserver.config import Settings


def add_url_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        metavar="URL",
        help="the running server, e.g. http://127.0.0.1:9000 (default: the configured "
        "[server] host and port, 127.0.0.1:8000)",
    )


def base_url(settings: Settings, url: str | None = None) -> str:
    """`http[s]://host:port` of the server, without a trailing slash; ValueError if malformed."""
    if url:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"--url must look like http://HOST:PORT, got {url!r}")
        return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    host = settings.server.host
    # A wildcard listen address is reachable on loopback.
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    netloc = f"[{host}]" if ":" in host else host
    return f"http://{netloc}:{settings.server.port}"


def websocket_url(http_url: str) -> str:
    return "ws" + http_url.removeprefix("http")


def auth_headers(settings: Settings) -> dict[str, str]:
    keys = settings.server.api_keys
    return {"Authorization": f"Bearer {keys[0]}"} if keys else {}
