"""Incoming webhooks (Slack-compatible): one JSON POST, retried with backoff.

The URL is a secret (whoever holds it can post to the channel): it is wrapped in
`WebhookUrl`, which never prints itself, and error messages name only its host.
Retries are bounded in number and in total time, so a dead or slow receiver costs a
deploy at most a few seconds; the caller decides what a failure means (targets/notify.py
logs a warning and carries on).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

# Answers worth another try: the receiver is overloaded, rate-limiting or restarting.
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class WebhookUrl:
    """A webhook URL that never shows up in logs, reprs or exceptions."""

    value: str = field(repr=False)

    def __str__(self) -> str:
        return self.redacted

    @property
    def redacted(self) -> str:
        parts = urlsplit(self.value)
        return f"{parts.scheme}://{parts.hostname or '?'}/…"


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: `base`, `base*factor`, ... capped at `cap`, `attempts`
    tries in all and never past `budget` seconds since the first try."""

    attempts: int = 4
    base: float = 0.5
    factor: float = 2.0
    cap: float = 4.0
    budget: float = 15.0
    timeout: float = 3.0  # per request

    def delays(self) -> list[float]:
        """The pauses between tries (one fewer than the attempts)."""
        return [
            min(self.cap, self.base * self.factor**i)
            for i in range(max(0, self.attempts - 1))
        ]


@dataclass(frozen=True)
class Delivery:
    ok: bool
    attempts: int
    status: int | None = None  # the last HTTP status, None without an answer
    error: str = ""  # why the last try failed


def post(
    url: WebhookUrl,
    payload: Mapping,
    backoff: Backoff = Backoff(),
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    transport: httpx.BaseTransport | None = None,
) -> Delivery:
    """POSTs `payload` as JSON until a 2xx, a non-retryable answer, or the attempts
    or time budget run out. Never raises for network or HTTP failures."""
    started = clock()
    delays = backoff.delays()
    status: int | None = None
    error = ""
    attempt = 0
    with httpx.Client(timeout=backoff.timeout, transport=transport) as client:
        for attempt in range(1, backoff.attempts + 1):
            try:
                r = client.post(url.value, json=dict(payload))
                status = r.status_code
                if 200 <= status < 300:
                    return Delivery(True, attempt, status)
                error = f"HTTP {status} from {url.redacted}"
                if status not in RETRY_STATUS:
                    break
            except httpx.HTTPError as exc:
                status = None
                error = f"{type(exc).__name__} posting to {url.redacted}"
            if attempt > len(delays):
                break
            pause = delays[attempt - 1]
            if clock() - started + pause > backoff.budget:
                error += f" (gave up: {backoff.budget:.0f}s budget)"
                break
            sleep(pause)
    return Delivery(False, attempt, status, error)
