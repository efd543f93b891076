"""The agent's status: what /status, /metrics and the dashboard show. The loop
assembles it after every pass and publishes it; the HTTP thread reads the last one."""

from __future__ import annotations

import os
import threading
from dataclasses import asdict
from pathlib import Path

from release.adapters import manifest_git, service_metrics
from release.adapters.agent_clone import Checkout, desired_paths
from release.agent import state as agent_state
from release.agent.config import AgentConfig
from release.base.errors import ReleaseError
from release.base.redact import redact, redact_data
from release.engine.access import HostAccess
from release.gitops import history
from release.model.desired import ROLE_HTTP
from release.plan.plan import HEALTH_ORDER
from release.targets.host import observe as observation


def worst(healths: list[str]) -> str:
    order = {h: i for i, h in enumerate(HEALTH_ORDER)}
    return min(healths, key=lambda h: order.get(h, 0)) if healths else "UNKNOWN"


def hosts_of(obs) -> list[dict]:
    """A fleet's hosts, each with its own sync, health and services ([] for one
    host: the top level is that host)."""
    out = []
    for h, o in obs.hosts:
        managed = [s for s in o.report.services if s.sync != "UNKNOWN"]
        out.append(
            {
                "name": h.name,
                "endpoint": h.endpoint,
                "labels": dict(h.labels),
                "sync": "OUT_OF_SYNC" if o.report.findings else "IN_SYNC",
                "health": worst([s.health for s in managed]),
                "findings": len(o.report.findings),
                "services": [s.to_dict() for s in o.report.services],
            }
        )
    return out


class StatusBoard:
    """The last published status (safe to read from another thread) and how a pass
    builds the next one from its observation of the host and the agent's state."""

    def __init__(
        self,
        config: AgentConfig,
        project: str,
        checkout: Checkout,
        home: Path,
        state: agent_state.AgentState,
        access: HostAccess,
    ):
        self.access = access
        self.config = config
        self.env = config.env
        self.project = project
        self.checkout = checkout
        self.home = home
        self._lock = threading.Lock()
        self._history_cache: tuple[str, list[dict]] = ("", [])
        self._status: dict = redact_data(self.initial(state))

    @property
    def current(self) -> dict:
        with self._lock:
            return self._status

    def publish(self, status: dict) -> None:
        status = redact_data(status)  # what /status, /metrics and the page show
        with self._lock:
            self._status = status

    def initial(self, state: agent_state.AgentState) -> dict:
        return {
            "environment": self.env,
            "project": self.project,
            "repo": redact(self.checkout.repo),
            "branch": self.config.branch,
            "sync": "UNKNOWN",
            "health": "UNKNOWN",
            "head": state.head,
            "synced_commit": state.synced_commit,
            "failed_commit": state.failed_commit,
            "failed_services": state.failed_services,
            "services": [],
            "findings": [],
            "hosts": [],
            "history": [],
            "attempts": [asdict(a) for a in state.attempts[-20:]],
            "agent": self.agent_info(),
        }

    def agent_info(self) -> dict:
        return {
            "pid": os.getpid(),
            "interval": self.config.interval,
            "self_heal": self.config.self_heal,
            "last_tick_at": "",
            "state_dir": str(self.home),
        }

    def history_events(self, head: str) -> list[dict]:
        if self._history_cache[0] == head:
            return self._history_cache[1]
        rel = desired_paths(self.env)[0]
        try:
            revisions = manifest_git.file_history(self.checkout.path, rel)
            events, _ = history.events(self.env, revisions)
            found = [e.to_dict() for e in events]
        except ReleaseError:
            found = []
        self._history_cache = (head, found)
        return found

    def service_traffic(self, obs: observation.Observation) -> dict[str, dict]:
        """Each HTTP service's request metrics, summed over its running replicas
        (read from their /metrics on the project's network; local engine only)."""
        host = self.access.endpoint(self.config.host)
        if self.access.is_remote(host) or not obs.containers_on_this_network:
            return {}  # the containers' IPs are only reachable from the local engine
        out = {}
        for unit in obs.units:
            if unit.role != ROLE_HTTP:
                continue
            total = None
            for c in obs.state.for_service(unit.service):
                if c.state != "running":
                    continue
                m = service_metrics.scrape(c.ip, timeout=1.0)
                if m is not None:
                    total = m if total is None else total + m
            if total is not None:
                out[unit.service] = total.to_dict()
        return out

    def build(
        self,
        obs: observation.Observation,
        head: str,
        state: agent_state.AgentState,
        recent_events: list[dict],
    ) -> dict:
        report = obs.report
        traffic = self.service_traffic(obs)
        services = []
        for s in report.services:
            d = s.to_dict()
            last = state.services.get(s.service)
            d["last_deploy"] = asdict(last) if last else None
            d["metrics"] = traffic.get(s.service)
            services.append(d)
        managed = [s for s in report.services if s.sync != "UNKNOWN"]
        return {
            "environment": self.env,
            "project": self.project,
            "repo": redact(self.checkout.repo),
            "branch": self.config.branch,
            "head": head,
            "synced_commit": state.synced_commit,
            "attempted_commit": state.attempted_commit,
            "failed_commit": state.failed_commit,
            "failed_services": list(state.failed_services),
            "sync": (
                "UNKNOWN"
                if not managed
                else "OUT_OF_SYNC" if report.findings else "IN_SYNC"
            ),
            "health": worst([s.health for s in managed]),
            "services": services,
            "findings": [f.to_dict() for f in report.findings],
            "hosts": hosts_of(obs),
            "history": self.history_events(head),
            "attempts": [asdict(a) for a in state.attempts[-20:]],
            "events": recent_events[-30:],
            "agent": {**self.agent_info(), "last_tick_at": agent_state.now()},
        }
