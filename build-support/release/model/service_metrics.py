"""The services' own Prometheus metrics (common/http.py) as numbers, for the canary
and the dashboard (pure: adapters/service_metrics.py reads a container's page).

Every service exposes, at `/metrics`, `http_requests_total{method,route,status}`,
`http_request_duration_seconds` (a histogram by method and route) and
`http_request_errors_total{method,route}` (5xx answers). `parse` sums them over the
application's routes, leaving out the operational ones (health checks from Docker
and the proxy, scrapes), which would otherwise drown real traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

OPS_ROUTES = frozenset({"/health/live", "/health/ready", "/metrics", "/version"})
PORT = 8000


@dataclass(frozen=True)
class ServiceMetrics:
    requests: float = 0.0  # application requests answered
    errors: float = 0.0  # of which 5xx
    latency_sum: float = 0.0
    latency_count: float = 0.0
    buckets: tuple[tuple[float, float], ...] = ()  # (le, cumulative count), sorted

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def mean_latency(self) -> float:
        return self.latency_sum / self.latency_count if self.latency_count else 0.0

    def quantile(self, q: float) -> float:
        """The histogram's upper bound holding the q-quantile (Prometheus' bucket
        resolution; +Inf reported as the largest finite bound)."""
        if not self.buckets or not self.buckets[-1][1]:
            return 0.0
        target = q * self.buckets[-1][1]
        finite = [b for b in self.buckets if not math.isinf(b[0])]
        for le, count in self.buckets:
            if count >= target:
                return le if not math.isinf(le) else (finite[-1][0] if finite else 0.0)
        return 0.0

    def __add__(self, other: "ServiceMetrics") -> "ServiceMetrics":
        merged: dict[float, float] = {}
        for le, count in (*self.buckets, *other.buckets):
            merged[le] = merged.get(le, 0.0) + count
        return ServiceMetrics(
            self.requests + other.requests,
            self.errors + other.errors,
            self.latency_sum + other.latency_sum,
            self.latency_count + other.latency_count,
            tuple(sorted(merged.items())),
        )

    def since(self, earlier: "ServiceMetrics") -> "ServiceMetrics":
        """The increase since an earlier reading of the same process."""
        before = dict(earlier.buckets)
        return ServiceMetrics(
            self.requests - earlier.requests,
            self.errors - earlier.errors,
            self.latency_sum - earlier.latency_sum,
            self.latency_count - earlier.latency_count,
            tuple((le, c - before.get(le, 0.0)) for le, c in self.buckets),
        )

    def to_dict(self) -> dict:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": round(self.error_rate, 4),
            "mean_latency_ms": round(self.mean_latency * 1000, 2),
            "p50_ms": round(self.quantile(0.5) * 1000, 1),
            "p99_ms": round(self.quantile(0.99) * 1000, 1),
        }


def parse(text: str) -> ServiceMetrics:
    requests = errors = lsum = lcount = 0.0
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            route = s.labels.get("route", "")
            if route in OPS_ROUTES:
                continue
            if s.name == "http_requests_total":
                requests += s.value
            elif s.name == "http_request_errors_total":
                errors += s.value
            elif s.name == "http_request_duration_seconds_sum":
                lsum += s.value
            elif s.name == "http_request_duration_seconds_count":
                lcount += s.value
            elif s.name == "http_request_duration_seconds_bucket":
                le = float(s.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + s.value
    return ServiceMetrics(
        requests, errors, lsum, lcount, tuple(sorted(buckets.items()))
    )
