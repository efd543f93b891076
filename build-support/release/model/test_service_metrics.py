"""Reading the services' /metrics: the same metric names common/http.py exposes."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from release.model.service_metrics import ServiceMetrics, parse


def exposition(requests, errors, latencies) -> str:
    """A page shaped like a service's: counters by route and status, a histogram."""
    reg = CollectorRegistry()
    total = Counter(
        "http_requests_total", "x", ("method", "route", "status"), registry=reg
    )
    errs = Counter("http_request_errors_total", "x", ("method", "route"), registry=reg)
    hist = Histogram(
        "http_request_duration_seconds", "x", ("method", "route"), registry=reg
    )
    for (route, status), n in requests.items():
        total.labels("GET", route, str(status)).inc(n)
    for route, n in errors.items():
        errs.labels("GET", route).inc(n)
    for route, values in latencies.items():
        for v in values:
            hist.labels("GET", route).observe(v)
    return generate_latest(reg).decode()


PAGE = exposition(
    {("/guidelines", 200): 90, ("/guidelines", 500): 10, ("/health/ready", 200): 500},
    {"/guidelines": 10},
    {"/guidelines": [0.004] * 98 + [0.3, 0.3], "/health/ready": [2.0] * 50},
)


def test_application_routes_only():
    m = parse(PAGE)
    assert (m.requests, m.errors) == (100, 10)
    assert m.error_rate == pytest.approx(0.1)
    assert m.latency_count == 100
    assert m.quantile(0.5) == 0.005 and m.quantile(0.99) == 0.5
    d = m.to_dict()
    assert d["p50_ms"] == 5.0 and d["error_rate"] == 0.1


def test_sums_and_differences():
    a = parse(PAGE)
    both = a + a
    assert (both.requests, both.errors, both.latency_count) == (200, 20, 200)
    assert both.since(a).requests == 100 and both.since(a).buckets == a.buckets


def test_empty_page_and_no_traffic():
    m = parse("")
    assert m == ServiceMetrics() and m.error_rate == 0 and m.quantile(0.99) == 0
