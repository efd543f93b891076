"""`./inv agent`: a pull-based reconciler for one environment on one Docker host.

Every interval:

    fetch the branch → check out its head → desired (manifest + Compose files)
      → observe the host (drift_cmd.observe) → decide (agent_state.decide)
      → deploy / repair through the rollout engine, or wait → record → publish status

The agent owns a clone of the repository under its state directory and reads only
data from it (the manifest and the Compose files); the code that deploys is the
agent's own. Deploys go through rollout.deploy, which takes the host's deploy lock
for the whole rollout (a manual `./inv deploy` and the agent never act at once) and
rolls back a service whose new containers fail their health gate, so a failed
attempt leaves the old containers serving. Decisions follow Argo CD's automated
sync (see agent_state.py): one attempt per desired state, self-heal on request,
state on disk across restarts. Each step is one JSON line on stdout; notices go to
the webhook (notify.py); /status, /metrics and the dashboard are served by
agent_http.py from the status this loop publishes.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from release import agent_state, drift, drift_cmd, history, notify, rollout
from release import service_metrics
from release.adapters import manifest_git
from release.adapters.agent_clone import Checkout, desired_paths
from release.errors import ConfigError, EngineError, ReleaseError, UsageError
from release.adapters.deploy_lock import LockError
from release.manifest import ManifestError, loads
from release.plan import HEALTH_ORDER, ROLE_HTTP
from release.layout import GitopsTree, check_env, project_name, state_dir
from release.adapters import docker_host

DEFAULT_LISTEN = "127.0.0.1:8790"
ACTOR = "ecotrack agent"
EVENTS_KEPT = 200


@dataclass(frozen=True)
class AgentConfig:
    env: str
    repo: str
    branch: str = "main"
    interval: float = 30.0
    self_heal: bool = False
    listen: str = DEFAULT_LISTEN  # host:port, "" for no HTTP server
    once: bool = False
    project: str = ""
    host: str = ""  # Docker host (default: DOCKER_HOST or local)
    health_timeout: float = 120.0
    home: Path | None = None  # state directory (default: <state dir>/agent/<project>)

    @property
    def project_name(self) -> str:
        return project_name(self.env, self.project)

    @property
    def state_home(self) -> Path:
        return self.home or state_dir() / "agent" / self.project_name


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise UsageError(
            f"--listen '{listen}' is not HOST:PORT (e.g. {DEFAULT_LISTEN})"
        )
    return host.strip("[]"), int(port)


def repo_location(repo: str) -> str:
    """A local path becomes absolute (the clone lives elsewhere); URLs stay."""
    if "://" in repo or repo.startswith("git@"):
        return repo
    path = Path(repo).expanduser()
    if not path.exists():
        raise UsageError(f"--repo {repo}: no such path (or give a URL)")
    return str(path.resolve())


# -- structured events -----------------------------------------------------------------


class EventLog:
    """One JSON object per line on `stream`, the last ones kept for /status."""

    def __init__(self, env: str, project: str, stream=None):
        self.env = env
        self.project = project
        self.stream = stream or sys.stdout
        self.recent: deque[dict] = deque(maxlen=EVENTS_KEPT)
        self._lock = threading.Lock()

    def __call__(self, event: str, level: str = "info", **fields) -> dict:
        record = {
            "ts": agent_state.now(),
            "level": level,
            "event": event,
            "env": self.env,
            "project": self.project,
            **fields,
        }
        line = json.dumps(record, sort_keys=False, default=str)
        with self._lock:
            self.recent.append(record)
            self.stream.write(line + "\n")
            self.stream.flush()
        return record


class AgentReporter(notify.NotifyingReporter):
    """The rollout's progress as structured events instead of terminal lines."""

    def __init__(self, log: EventLog, notifier: notify.Notifier, env, project, commit):
        super().__init__(notifier, env, project, actor=ACTOR, commit=commit)
        self.log = log

    def _print(self, *args, **kwargs) -> None:  # nothing goes to the terminal
        pass

    def info(self, message: str) -> None:
        self.log("rollout", message=message)

    def note(self, message: str) -> None:
        self.log("rollout", message=message)

    def step(self, service: str, step: str, message: str) -> None:
        self.log("rollout_step", service=service, step=step, message=message)
        super().step(service, step, message)

    def plan(self, plan) -> None:
        self.log(
            "plan",
            changes=[
                {"service": s.service, "action": s.action, "reasons": list(s.reasons)}
                for s in plan.changes
            ],
        )
        self.notify_plan(plan)  # the table stays off stdout: that is the JSON log


# -- metrics ---------------------------------------------------------------------------


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


# -- the agent -------------------------------------------------------------------------


def worst(healths: list[str]) -> str:
    order = {h: i for i, h in enumerate(HEALTH_ORDER)}
    return min(healths, key=lambda h: order.get(h, 0)) if healths else "UNKNOWN"


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        notifier: notify.Notifier | None = None,
        log: EventLog | None = None,
    ):
        check_env(config.env)
        if config.interval <= 0:
            raise UsageError("--interval must be positive")
        self.config = config
        self.env = config.env
        self.project = config.project_name
        self.home = config.state_home
        self.checkout = Checkout(
            self.home / "checkout", repo_location(config.repo), config.branch
        )
        self.log = log or EventLog(self.env, self.project)
        self.notifier = notifier or notify.Notifier.from_env(
            warn=lambda text: self.log("notify_failed", level="warning", message=text)
        )
        self.stop_event = threading.Event()
        self.state = agent_state.load(self.home, self.env, self.project)
        self.state.repo, self.state.branch = self.checkout.repo, config.branch
        self.metrics = AgentMetrics(self.env, lambda: self.status)
        self._status: dict = self._initial_status()
        self._status_lock = threading.Lock()
        self._history_cache: tuple[str, list[dict]] = ("", [])
        self._client = None
        self._lockfile = None

    # -- published status (read by the HTTP thread) ---------------------------------

    @property
    def status(self) -> dict:
        with self._status_lock:
            return self._status

    def publish(self, status: dict) -> None:
        with self._status_lock:
            self._status = status

    def _initial_status(self) -> dict:
        return {
            "environment": self.env,
            "project": self.project,
            "repo": self.checkout.repo,
            "branch": self.config.branch,
            "sync": "UNKNOWN",
            "health": "UNKNOWN",
            "head": self.state.head,
            "synced_commit": self.state.synced_commit,
            "failed_commit": self.state.failed_commit,
            "failed_services": self.state.failed_services,
            "services": [],
            "findings": [],
            "history": [],
            "attempts": [asdict(a) for a in self.state.attempts[-20:]],
            "agent": self._agent_info(),
        }

    def _agent_info(self) -> dict:
        return {
            "pid": os.getpid(),
            "interval": self.config.interval,
            "self_heal": self.config.self_heal,
            "last_tick_at": "",
            "state_dir": str(self.home),
        }

    # -- lifecycle --------------------------------------------------------------------

    def _take_instance_lock(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        f = open(self.home / "agent.lock", "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            raise ConfigError(
                f"another agent for {self.project} runs with state {self.home} "
                f"(pid {f.read().strip() or '?'})"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._lockfile = f

    def client(self):
        if self._client is None:
            self._client = docker_host.connect(self.config.host or None)
        return self._client

    def run(self) -> int:
        """The loop (or one pass with `once`); returns the exit code."""
        self._take_instance_lock()
        if self.state.in_progress:
            self.log(
                "interrupted_attempt_found",
                level="warning",
                commit=self.state.in_progress.commit,
                message="the previous agent died during a deploy: it will be redone",
            )
            self.state.finish(self.state.in_progress, "interrupted", "agent restarted")
            agent_state.save(self.home, self.state)
        self.checkout.ensure()
        self.log(
            "agent_started",
            repo=self.checkout.repo,
            branch=self.config.branch,
            interval=self.config.interval,
            self_heal=self.config.self_heal,
            state_dir=str(self.home),
            synced_commit=self.state.synced_commit,
            failed_commit=self.state.failed_commit,
        )
        code = 0
        while not self.stop_event.is_set():
            started = time.monotonic()
            try:
                code = self.tick()
            except Exception as exc:  # keep reconciling; the next pass starts afresh
                code = 1
                self.metrics.errors.labels(self.env, "tick").inc()
                self.log(
                    "tick_failed",
                    level="error",
                    message=f"{type(exc).__name__}: {exc}",
                    traceback=traceback.format_exc(limit=8),
                )
            if self.config.once:
                break
            self.stop_event.wait(
                max(0.0, self.config.interval - (time.monotonic() - started))
            )
        self.log("agent_stopped")
        return code

    def stop(self, *_args) -> None:
        self.stop_event.set()

    # -- one pass ---------------------------------------------------------------------

    def tick(self) -> int:
        """One reconcile pass; returns 1 when it ended with a failed deploy or
        could not look at the host, else 0. Never raises a ReleaseError."""
        self.metrics.ticks.labels(self.env).inc()
        try:
            head = self.checkout.fetch()
        except ReleaseError as exc:
            return self._tick_error("fetch", exc)
        if head != self.state.head:
            self.log("fetched", commit=head, subject=self.checkout.subject(head))
            self.state.head = head
            agent_state.save(self.home, self.state)
        try:
            self.checkout.checkout(head)
            manifest_text = self.checkout.show(head, desired_paths(self.env)[0])
            manifest = (
                loads(manifest_text, f"{self.env}.json at {head[:12]}")
                if manifest_text is not None
                else None
            )
            if manifest is None:
                raise ManifestError(
                    f"{desired_paths(self.env)[0]} does not exist at {head[:12]}"
                )
            if manifest.environment != self.env:
                raise ManifestError(
                    f"the manifest at {head[:12]} is for '{manifest.environment}'"
                )
        except ReleaseError as exc:
            return self._tick_error("manifest", exc)
        key = self.checkout.desired_key(head, self.env)
        try:
            obs = self.observe(manifest)
        except ReleaseError as exc:
            return self._tick_error("observe", exc)
        report = obs.report
        decision = agent_state.decide(
            self.state,
            head,
            key,
            self.changed_since_synced(head, manifest),
            [s.service for s in report.services if s.sync == "OUT_OF_SYNC"],
            drift.repairable(report),
            report.fingerprint(),
            self.config.self_heal,
        )
        if decision.action != "none" or report.findings:
            self.log(
                "decision",
                action=decision.action,
                services=list(decision.services),
                reason=decision.reason,
                commit=head,
                drift=len(report.findings),
            )
        code = 0
        if decision.action in ("none", "wait", "heal"):
            self.announce_drift(report, head)
        if decision.action in ("deploy", "heal"):
            code = self.deploy(decision, manifest, head, key, obs)
            try:
                obs = self.observe(manifest)
            except ReleaseError as exc:
                return self._tick_error("observe", exc)
        elif decision.action == "adopt":
            self.state.mark_synced(head, key)
            agent_state.save(self.home, self.state)
            self.log("synced", commit=head, reason=decision.reason)
        if obs.report.in_sync and self.state.synced_key == key:
            self.metrics.last_sync.labels(self.env).set_to_current_time()
            if self.state.drift_fingerprint:
                self.state.drift_fingerprint = ""
                agent_state.save(self.home, self.state)
        self.publish(self.build_status(obs, head))
        return code

    def _tick_error(self, stage: str, exc: Exception) -> int:
        self.metrics.errors.labels(self.env, stage).inc()
        self.log(f"{stage}_failed", level="error", message=str(exc).splitlines()[0])
        status = dict(self.status)
        status["agent"] = {**self._agent_info(), "last_tick_at": agent_state.now()}
        status["error"] = f"{stage}: {str(exc).splitlines()[0]}"
        if stage == "observe":
            status["sync"] = status["health"] = "UNKNOWN"
        self.publish(status)
        return 1

    def observe(self, manifest) -> drift_cmd.Observation:
        return drift_cmd.observe(
            self.env,
            project=self.project,
            host=self.config.host or None,
            manifest=manifest,
            gitops=GitopsTree(self.checkout.gitops),
            client=self.client(),
        )

    def changed_since_synced(self, head: str, manifest) -> list[str] | None:
        base = self.state.synced_commit
        if not base or not self.checkout.has(base):
            return None
        rel_manifest, *compose_rels = desired_paths(self.env)
        old_text = self.checkout.show(base, rel_manifest)
        try:
            old = loads(old_text, "old manifest") if old_text is not None else None
        except ManifestError:
            return None
        if old is None:
            return None

        def docs(commit: str) -> list[dict] | None:
            out = []
            for rel in compose_rels:
                text = self.checkout.show(commit, rel)
                try:
                    out.append(yaml.safe_load(text or "") or {})
                except yaml.YAMLError:
                    return None
            return out

        return agent_state.changed_services(old, manifest, docs(base), docs(head))

    def announce_drift(self, report: drift.DriftReport, head: str) -> None:
        if not report.findings:
            return
        fingerprint = report.fingerprint()
        if fingerprint == self.state.drift_fingerprint:
            return
        self.log(
            "drift_found",
            level="warning",
            commit=head,
            findings=[f.to_dict() for f in report.findings],
        )
        self.notifier.send(
            notify.drift_notice(self.env, self.project, report.findings, ACTOR, head)
        )
        self.state.drift_fingerprint = fingerprint
        agent_state.save(self.home, self.state)

    def deploy(self, decision, manifest, head, key, obs) -> int:
        attempt = agent_state.Attempt(
            commit=head,
            trigger=decision.trigger,
            services=list(decision.services),
            started_at=agent_state.now(),
            desired_key=key,
        )
        self.state.begin(attempt)
        agent_state.save(self.home, self.state)
        self.log(
            "deploy_started",
            commit=head,
            trigger=decision.trigger,
            services=list(decision.services) or ["(all)"],
        )
        self.publish(
            {
                **self.build_status(obs, head),
                "operation": {
                    "commit": head,
                    "trigger": decision.trigger,
                    "services": list(decision.services),
                    "reason": decision.reason,
                    "started_at": attempt.started_at,
                },
            }
        )
        reporter = AgentReporter(self.log, self.notifier, self.env, self.project, head)
        started = time.monotonic()
        result = None
        try:
            result = rollout.deploy(
                self.env,
                services=decision.services,
                manifest=manifest,
                project=self.project,
                host=self.config.host or None,
                health_timeout=self.config.health_timeout,
                reporter=reporter,
                gitops=GitopsTree(self.checkout.gitops),
            )
            outcome, reason = "ok", ""
        except rollout.DeployFailed as exc:
            result = exc.result
            outcome = "interrupted" if result.error == "interrupted" else "failed"
            reason = str(exc)
        except (LockError, EngineError) as exc:
            # Not this commit's fault: no attempt is recorded, the next pass retries.
            self.state.in_progress = None
            agent_state.save(self.home, self.state)
            self.metrics.deploys.labels(self.env, decision.trigger, "refused").inc()
            self.log("deploy_refused", level="warning", message=str(exc))
            return 0
        except ReleaseError as exc:
            outcome, reason = "failed", str(exc)
        except Exception as exc:  # a bug or an SDK error: recorded, not retried
            outcome, reason = "failed", f"unexpected {type(exc).__name__}: {exc}"
        attempt.duration_s = round(time.monotonic() - started, 2)
        failed = []
        versions = {}
        if result is not None:
            attempt.services = [o.service for o in result.outcomes] or list(
                decision.services
            )
            failed = [o.service for o in result.outcomes if o.result == "failed"]
            versions = {
                s.service: (s.desired.version, s.desired.digest)
                for s in result.plan.services
                if s.desired
            }
        self.state.finish(
            attempt, outcome, reason, failed, versions, obs.report.fingerprint()
        )
        agent_state.save(self.home, self.state)
        self.metrics.deploys.labels(self.env, decision.trigger, outcome).inc()
        self.metrics.duration.labels(self.env).observe(attempt.duration_s)
        self.log(
            "deploy_finished",
            level="info" if outcome == "ok" else "error",
            commit=head,
            result=outcome,
            services=attempt.services,
            failed=failed,
            duration_s=attempt.duration_s,
            reason=reason.splitlines()[0] if reason else "",
        )
        if result is not None:
            reporter.notify_result(result)
        else:
            self.notifier.send(
                notify.Notice(
                    notify.FAILED,
                    self.env,
                    self.project,
                    reason.splitlines()[0] if reason else "deploy failed",
                    (),
                    head,
                    ACTOR,
                )
            )
        if outcome == "interrupted":
            self.stop_event.set()
        return 0 if outcome == "ok" else 1

    # -- status for /status and the dashboard ------------------------------------

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

    def service_traffic(self, obs: drift_cmd.Observation) -> dict[str, dict]:
        """Each HTTP service's request metrics, summed over its running replicas
        (read from their /metrics on the project's network; local engine only)."""
        host = docker_host.endpoint(self.config.host)
        if host.startswith("ssh://"):
            return {}
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

    def build_status(self, obs: drift_cmd.Observation, head: str) -> dict:
        report = obs.report
        traffic = self.service_traffic(obs)
        services = []
        for s in report.services:
            d = s.to_dict()
            last = self.state.services.get(s.service)
            d["last_deploy"] = asdict(last) if last else None
            d["metrics"] = traffic.get(s.service)
            services.append(d)
        managed = [s for s in report.services if s.sync != "UNKNOWN"]
        return {
            "environment": self.env,
            "project": self.project,
            "repo": self.checkout.repo,
            "branch": self.config.branch,
            "head": head,
            "synced_commit": self.state.synced_commit,
            "attempted_commit": self.state.attempted_commit,
            "failed_commit": self.state.failed_commit,
            "failed_services": list(self.state.failed_services),
            "sync": (
                "UNKNOWN"
                if not managed
                else "OUT_OF_SYNC" if report.findings else "IN_SYNC"
            ),
            "health": worst([s.health for s in managed]),
            "services": services,
            "findings": [f.to_dict() for f in report.findings],
            "history": self.history_events(head),
            "attempts": [asdict(a) for a in self.state.attempts[-20:]],
            "events": list(self.log.recent)[-30:],
            "agent": {**self._agent_info(), "last_tick_at": agent_state.now()},
        }


def run(config: AgentConfig) -> int:
    """The task's entry point: the agent, its HTTP endpoints, signal handling."""
    from release import agent_http

    agent = Agent(config)
    server = None
    if config.listen:
        host, port = parse_listen(config.listen)
        server = agent_http.serve(agent, host, port)
        agent.log("listening", url=f"http://{host}:{server.server_address[1]}/")
    previous = {
        sig: signal.signal(sig, agent.stop) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        return agent.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server is not None:
            server.shutdown()
            server.server_close()
