"""Fetch a job's audio from a URL the server can reach: http(s) only, size-limited, timed out.

Blocking (urllib): the runner calls it in a thread. Redirects are followed only to http(s).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

_CHUNK = 1 << 16
SCHEMES = ("http", "https")


class FetchError(RuntimeError):
    """The audio could not be fetched; the message says why (it goes into the job's error)."""


def check_url(url: str) -> str:
    """The URL if it is an absolute http(s) URL with a host; ValueError otherwise."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ValueError(f"url must be an absolute http or https URL, got {url[:200]!r}")
    return url


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> Any:  # fmt: skip
        try:
            check_url(newurl)
        except ValueError as exc:
            raise FetchError(f"redirected to a URL that is not http(s): {exc}") from None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects())


def download(url: str, dest: Path, *, max_bytes: int, timeout_s: float) -> int:
    """Write the body at `url` to `dest`; returns its size. FetchError on any failure.

    `timeout_s` bounds each network wait and the whole transfer (a server trickling bytes
    cannot hold a job slot forever).
    """
    check_url(url)
    deadline = time.monotonic() + timeout_s
    request = urllib.request.Request(url, headers={"User-Agent": "mediaserver-jobs"})
    size = 0
    try:
        with _OPENER.open(request, timeout=timeout_s) as response, dest.open("wb") as out:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(f"the audio at the url is larger than {max_bytes} bytes")
            while chunk := response.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"the audio at the url is larger than {max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise FetchError(f"fetching the audio took longer than {timeout_s:g} s")
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        exc.close()  # an HTTPError holds the response open
        raise FetchError(f"the url answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        if isinstance(exc, FetchError):
            raise
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"cannot fetch the url: {reason}") from None
    return size
