"""The agent's Prometheus metrics (served at /metrics by adapters/agent_http.py)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from release.plan.plan import HEALTH_ORDER


class AgentMetrics:
    """Prometheus metrics of the agent: counters it increments, gauges read from the
    last published status at scrape time (so services that disappear disappear)."""

    def __init__(self, env: str, status: Callable[[], dict]):
        self.registry = CollectorRegistry()
        self.env = env
        self.status = status
        self.deploys = Counter(
            "ecotrack_agent_deploys",
            "Deploys started by the agent, by trigger and result.",
            ["env", "trigger", "result"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "ecotrack_agent_rollout_duration_seconds",
            "Wall time of the agent's deploys.",
            ["env"],
            buckets=(5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600),
            registry=self.registry,
        )
        self.ticks = Counter(
            "ecotrack_agent_ticks",
            "Reconcile loops run.",
            ["env"],
            registry=self.registry,
        )
        self.errors = Counter(
            "ecotrack_agent_errors",
            "Reconcile loops that could not complete (fetch, engine, manifest).",
            ["env", "stage"],
            registry=self.registry,
        )
        self.last_sync = Gauge(
            "ecotrack_agent_last_sync_timestamp_seconds",
            "When the host was last found or brought in sync with the branch.",
            ["env"],
            registry=self.registry,
        )
        self.registry.register(self)

    def describe(self):
        return []

    def collect(self):
        status = self.status()
        services = status.get("services") or []
        drift_g = GaugeMetricFamily(
            "ecotrack_drift_findings",
            "Drift findings per service and kind (0 when in sync).",
            labels=["env", "service", "kind"],
        )
        counts: dict[tuple[str, str], int] = {}
        for f in status.get("findings") or []:
            key = (f["service"], f["kind"])
            counts[key] = counts.get(key, 0) + 1
        for (service, kind), n in sorted(counts.items()):
            drift_g.add_metric([self.env, service, kind], n)
        yield drift_g
        total = GaugeMetricFamily(
            "ecotrack_drift_detected",
            "1 when the host differs from the manifest, 0 in sync, absent unknown.",
            labels=["env"],
        )
        if status.get("sync") in ("IN_SYNC", "OUT_OF_SYNC"):
            total.add_metric([self.env], 1 if status["sync"] == "OUT_OF_SYNC" else 0)
        yield total
        health = GaugeMetricFamily(
            "ecotrack_service_health",
            "Per-service health: 1 for the current state, 0 for the others.",
            labels=["env", "service", "health"],
        )
        sync = GaugeMetricFamily(
            "ecotrack_service_sync",
            "Per-service sync status: 1 for the current status.",
            labels=["env", "service", "sync"],
        )
        replicas = GaugeMetricFamily(
            "ecotrack_service_replicas",
            "Running replicas per service.",
            labels=["env", "service"],
        )
        for s in services:
            for h in HEALTH_ORDER:
                health.add_metric([self.env, s["service"], h], int(s["health"] == h))
            for st in ("IN_SYNC", "OUT_OF_SYNC", "UNKNOWN"):
                sync.add_metric([self.env, s["service"], st], int(s["sync"] == st))
            replicas.add_metric([self.env, s["service"]], s.get("replicas", 0))
        yield health
        yield sync
        yield replicas
        requests = GaugeMetricFamily(
            "ecotrack_service_requests",
            "Application requests answered by the service's running replicas "
            "(from their /metrics, since each replica started).",
            labels=["env", "service"],
        )
        errors = GaugeMetricFamily(
            "ecotrack_service_errors",
            "Of those, answered with a 5xx.",
            labels=["env", "service"],
        )
        for s in services:
            m = s.get("metrics")
            if m:
                requests.add_metric([self.env, s["service"]], m["requests"])
                errors.add_metric([self.env, s["service"]], m["errors"])
        yield requests
        yield errors
