"""The load generator's pure parts (testing/loadgen.py sends the requests): the
open-loop schedule, which requests reuse a connection, the verdict on one answer, and
the statistics over results (per-second series, windows, percentiles). Standard
library only, like the generator."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

SERVED_BY = "x-served-by"  # set by every service (shared/common/http.py)
NOT_SERVED = "not served by the service"


class Result(NamedTuple):
    at: float  # wall-clock time the request was due (scheduled)
    latency: float  # seconds from due to the end of the response (or the failure)
    error: str  # "" when it succeeded
    lag: float = 0.0  # seconds the generator was late in sending it
    retried: bool = False  # sent again after a kept-alive connection went stale


def due(i: int, start: float, rate: float) -> float:
    """When request i is due: a fixed schedule, never shifted by responses."""
    return start + i / rate


def reuses(i: int, share: float) -> bool:
    """Whether request i goes on a kept-alive connection: spread evenly, so that
    exactly round(n * share) of any n consecutive requests do (±1)."""
    return math.floor((i + 1) * share) > math.floor(i * share)


def verdict(
    status: int,
    headers: dict[str, str],
    body: bytes,
    expect: Callable[[bytes], bool] | None = None,
) -> str:
    """ "" when the response counts as a success, else why not."""
    served = SERVED_BY in headers
    if status >= 400 or status < 200:
        return f"HTTP {status}" + ("" if served else " (proxy)")
    if not served:
        return NOT_SERVED
    if expect is not None and not expect(body):
        return "wrong body"
    return ""


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def window(results: Sequence[Result], start: float, end: float) -> dict:
    """Requests due in [start, end): counts, errors by kind, latency in ms."""
    inside = [r for r in results if start <= r.at < end]
    latencies = [r.latency * 1000 for r in inside]
    errors: dict[str, int] = {}
    for r in inside:
        if r.error:
            errors[r.error] = errors.get(r.error, 0) + 1
    return {
        "requests": len(inside),
        "failed": sum(errors.values()),
        "errors": errors,
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies, default=float("nan")),
        "rate": len(inside) / max(end - start, 1e-9),
        "max_lag_ms": max((r.lag * 1000 for r in inside), default=0.0),
        "stale_keepalive_retries": sum(1 for r in inside if r.retried),
    }


def series(results: Sequence[Result], start: float | None = None) -> list[dict]:
    """Per second of due time from `start` (default: the first request)."""
    if not results:
        return []
    t0 = min(r.at for r in results) if start is None else start
    buckets: dict[int, list[Result]] = {}
    for r in results:
        buckets.setdefault(int(math.floor(r.at - t0)), []).append(r)
    out = []
    for second in range(min(buckets), max(buckets) + 1):
        rs = buckets.get(second, [])
        ms = [r.latency * 1000 for r in rs]
        failed = sum(1 for r in rs if r.error)
        out.append(
            {
                "t": second,
                "sent": len(rs),
                "ok": len(rs) - failed,
                "failed": failed,
                "p50": percentile(ms, 0.5),
                "p99": percentile(ms, 0.99),
            }
        )
    return out
