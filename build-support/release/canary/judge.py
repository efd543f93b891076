"""A canary's verdict from the numbers: pure.

What clients saw through the proxy (5xx, connection and response errors per server,
model/proxy.Counts) and what the service answered itself (its /metrics), plus
Docker's health; `judge` aborts early on a bad error rate, promotes at the end of the
window, and never promotes without evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

from release.model import service_metrics
from release.model.proxy import Counts


@dataclass(frozen=True)
class Verdict:
    done: bool
    promote: bool = False
    reason: str = ""


def judge(
    proxy: Counts,
    own: service_metrics.ServiceMetrics | None,
    elapsed: float,
    window: float,
    max_error_rate: float,
    min_requests: int,
    unhealthy: str = "",
) -> Verdict:
    """Whether the canary has shown enough: abort as soon as it is unhealthy or its
    error rate (the worse of the proxy's and its own) is over the limit on at least
    `min_requests` requests; at the end of the window promote, unless too little
    traffic reached it to tell (then abort: no evidence is no promotion)."""
    if unhealthy:
        return Verdict(True, False, unhealthy)
    rates = [(proxy.error_rate, proxy.requests, proxy.errors, "through the proxy")]
    if own is not None and own.requests:
        rates.append(
            (own.error_rate, int(own.requests), int(own.errors), "its /metrics")
        )
    rate, requests, errors, source = max(rates)
    if requests >= min_requests and rate > max_error_rate:
        return Verdict(
            True,
            False,
            f"error rate {rate:.1%} ({errors} of {requests} requests, {source}) is "
            f"over --max-error-rate {max_error_rate:.1%} after {elapsed:.0f}s",
        )
    if elapsed < window:
        return Verdict(False)
    if proxy.requests < min_requests:
        return Verdict(
            True,
            False,
            f"inconclusive: {proxy.requests} requests reached the canary in "
            f"{window:.0f}s (at least {min_requests} needed to judge)",
        )
    return Verdict(
        True,
        True,
        f"error rate {rate:.1%} ({errors} of {requests} requests, {source}) within "
        f"{max_error_rate:.1%} over {window:.0f}s",
    )
