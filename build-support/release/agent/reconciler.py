"""`./inv agent`: a pull-based reconciler for one environment, on its Docker host or
its fleet of hosts (agent/target.py).

Every interval:

    fetch the branch → check out its head → desired (manifest + Compose files)
      → observe the host(s) (agent_target) → decide (agent_state.decide)
      → deploy / repair through the rollout engine, or wait → record → publish status

The agent owns a clone of the repository under its state directory and reads only data
from it (the manifest and the Compose files); the code that deploys is the agent's own.
Deploys go through rollout.deploy, which takes the host's deploy lock for the whole
rollout (a manual `./inv deploy` and the agent never act at once) and rolls back a
service whose new containers fail their health gate, so a failed attempt leaves the old
containers serving. Decisions follow Argo CD's automated sync (see agent/state.py): one
attempt per desired state, self-heal on request, state on disk across restarts. Each
step is one JSON line on stdout (agent/events.py); notices go to the webhook
(targets/notify.py); /status, /metrics (agent/metrics.py) and the dashboard are served
by adapters/agent_http.py from the status this loop publishes (agent/status.py). The
options are in agent/config.py; reading the desired state from the clone in
agent/desired.py.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import traceback

from release.adapters.agent_clone import Checkout
from release.agent import state as agent_state
from release.agent.config import AgentConfig, repo_location
from release.agent.desired import changed_since, manifest_at
from release.agent.events import ACTOR, AgentReporter, EventLog
from release.agent.metrics import AgentMetrics
from release.agent.status import StatusBoard
from release.agent.target import AgentTarget
from release.base.errors import (
    ConfigError,
    EngineError,
    LockError,
    ReleaseError,
    UsageError,
)
from release.base.layout import check_env
from release.base.redact import redact
from release.engine.access import HostAccess
from release.targets import notify
from release.targets.host import observe as observation
from release.targets.host import rollout
from release.verify import drift


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        access: HostAccess,
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
        # Set while a pass deploys: a stop then aborts the deploy (cli/agent.py), which
        # the engine rolls back, instead of waiting for it to end.
        self.deploying = threading.Event()
        self.state = agent_state.load(self.home, self.env, self.project)
        self.state.repo = redact(self.checkout.repo)  # state.json is readable by others
        self.state.branch = config.branch
        self.metrics = AgentMetrics(self.env, lambda: self.status)
        self.board = StatusBoard(
            config, self.project, self.checkout, self.home, self.state, access
        )
        self.target = AgentTarget(config, self.project, self.checkout, access)
        self._lockfile = None

    @property
    def status(self) -> dict:
        """The last published status (read by the HTTP thread)."""
        return self.board.current

    def build_status(self, obs: observation.Observation, head: str) -> dict:
        return self.board.build(obs, head, self.state, list(self.log.recent))

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
            repo=redact(self.checkout.repo),
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
            manifest = manifest_at(self.checkout, self.env, head)
        except ReleaseError as exc:
            return self._tick_error("manifest", exc)
        key = self.checkout.desired_key(head, self.env)
        try:
            obs = self.target.observe(manifest)
        except ReleaseError as exc:
            return self._tick_error("observe", exc)
        report = obs.report
        decision = agent_state.decide(
            self.state,
            head,
            key,
            changed_since(
                self.checkout, self.env, self.state.synced_commit, head, manifest
            ),
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
                obs = self.target.observe(manifest)
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
        self.board.publish(self.build_status(obs, head))
        return code

    def _tick_error(self, stage: str, exc: Exception) -> int:
        self.metrics.errors.labels(self.env, stage).inc()
        self.log(f"{stage}_failed", level="error", message=str(exc).splitlines()[0])
        status = dict(self.status)
        status["agent"] = {**self.board.agent_info(), "last_tick_at": agent_state.now()}
        status["error"] = f"{stage}: {str(exc).splitlines()[0]}"
        if stage == "observe":
            status["sync"] = status["health"] = "UNKNOWN"
        self.board.publish(status)
        return 1

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
        self.board.publish(
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
            self.deploying.set()
            try:
                result = self.target.deploy(decision.services, manifest, reporter)
            finally:
                self.deploying.clear()
            outcome, reason = "ok", ""
        except rollout.DeployFailed as exc:
            result = exc.result
            interrupted = any(
                r.error == "interrupted" for r in self.target.per_host(result)
            )
            outcome = "interrupted" if interrupted else "failed"
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
            outcomes = [o for r in self.target.per_host(result) for o in r.outcomes]
            attempt.services = list(dict.fromkeys(o.service for o in outcomes)) or list(
                decision.services
            )
            failed = sorted({o.service for o in outcomes if o.result == "failed"})
            versions = {
                s.service: (s.desired.version, s.desired.digest)
                for r in self.target.per_host(result)
                for s in r.plan.services
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
            for r in self.target.per_host(result):
                reporter.notify_result(r)
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
