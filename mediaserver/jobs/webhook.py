"""The webhook a job calls when it finishes: POST JSON, retried with exponential back-off.

Delivery state lives in the job's row, so a webhook still due when the server stops is sent
after the restart. A 2xx answer is a delivery; anything else (or no answer) is retried up to
`attempts` times, waiting `backoff_s`, 2 x `backoff_s`, 4 x ... between tries.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from mediaserver.jobs.store import AsyncJobStore, Job, JobStore, WebhookState

log = structlog.get_logger("mediaserver.jobs.webhook")
Post = Callable[[str, bytes, float], Awaitable[bool]]  # (url, body, timeout) -> delivered?


def _post_blocking(url: str, body: bytes, timeout_s: float) -> bool:
    request = urllib.request.Request(
        url, data=body, method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "mediaserver-jobs"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return 200 <= int(response.status) < 300
    except urllib.error.HTTPError as exc:
        exc.close()  # an HTTPError holds the response open
        return False
    except (urllib.error.URLError, OSError, ValueError):
        return False


async def http_post(url: str, body: bytes, timeout_s: float) -> bool:
    return await asyncio.to_thread(_post_blocking, url, body, timeout_s)


class Webhooks:
    """Delivers job webhooks in background tasks; `stop()` leaves undelivered ones pending."""

    def __init__(
        self, store: AsyncJobStore, payload: Callable[[Job], dict[str, Any]], *,
        attempts: int, backoff_s: float, timeout_s: float, post: Post = http_post,
    ) -> None:  # fmt: skip
        self._store = store
        self._payload = payload
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._timeout_s = timeout_s
        self._post = post
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, job: Job) -> None:
        if job.webhook_url is None or job.webhook != WebhookState.PENDING:
            return
        task = asyncio.create_task(self._deliver(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def resume(self) -> None:
        """Send every webhook a previous run left pending."""
        for job in await self._store.run(JobStore.webhooks_due):
            self.send(job)

    async def wait_idle(self) -> None:
        """Until every webhook under way is delivered or given up (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _deliver(self, job: Job) -> None:
        assert job.webhook_url is not None
        body = json.dumps(self._payload(job)).encode()
        for attempt in range(job.webhook_attempts, self._attempts):
            if attempt > job.webhook_attempts:
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
            delivered = await self._post(job.webhook_url, body, self._timeout_s)
            state = WebhookState.DELIVERED if delivered else WebhookState.PENDING
            if not delivered and attempt + 1 >= self._attempts:
                state = WebhookState.FAILED
            await self._store.run(JobStore.set_webhook, job.id, state, attempt + 1)
            if state != WebhookState.PENDING:
                log.info("jobs.webhook", job=job.id, state=str(state), attempts=attempt + 1)
                return
