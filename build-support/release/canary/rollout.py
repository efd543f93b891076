"""`./inv deploy --service NAME --canary N`: try a new version on a share of the traffic
before rolling it out.

    start_canary → wait_healthy → admit (share: N/(old+N), the proxy's round robin)
      → judge, for the window: the canary's error rate, from the proxy's per-server
        statistics (what clients saw: 5xx, connection and response errors) and the
        service's own /metrics (5xx it answered), plus Docker's health
      → promote: the normal rolling update, which adopts the canary as a new replica
      → or withdraw: drain the canary, remove it by ID; the old replicas never stopped

The same session (lock held from the first step to the last) and the same engine
steps as `./inv deploy` (deploy/steps.canary_steps_for); the judge step is the gate,
its decision pure (canary/judge.py). The task's entry point and the result table are
in cli/canary.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from release.base import exit_codes
from release.adapters import service_metrics
from release.base.errors import UsageError
from release.base.layout import GITOPS, GitopsTree, check_env
from release.canary.judge import Verdict, judge
from release.engine import steps
from release.engine.access import HostAccess
from release.engine.engine import Engine
from release.engine.events import Reporter
from release.engine.results import StepFailed
from release.engine.run import Run
from release.model.desired import ROLE_HTTP, Desired, Unit
from release.model.live import LiveContainer
from release.model.manifest import Manifest
from release.model.proxy import Counts
from release.plan.plan import classify
from release.targets import notify
from release.targets.host.session import DeploySession, ProjectOnHost

PROMOTED, ABORTED, NOTHING = "promoted", "aborted", "nothing to do"


class Rejected(StepFailed):
    """The judge said no: the canary is withdrawn."""


@dataclass(frozen=True)
class CanaryOptions:
    env: str
    service: str
    replicas: int = 1
    window: float = 60.0
    max_error_rate: float = 0.01
    min_requests: int = 20
    poll: float = 1.0
    project: str = ""
    host: str | None = None
    health_timeout: float = 120.0
    manifest: Manifest | None = None
    proxy_port: int | None = None
    gitops: GitopsTree = GITOPS  # the repository's gitops/


@dataclass
class CanaryResult:
    env: str
    project: str
    service: str
    decision: str = NOTHING
    reason: str = ""
    from_: str = "-"
    to: str = "-"
    canaries: list[str] = field(default_factory=list)
    observed_s: float = 0.0
    requests: int = 0
    errors: int = 0
    own_requests: int = 0
    own_errors: int = 0
    share: str = ""
    duration: float = 0.0
    promotion: str = ""
    by_verdict: bool = False  # aborted because the canary's numbers said so

    @property
    def exit_code(self) -> int:
        """3 when the verdict aborted it (the build is worse: a finding, like drift);
        1 when the canary could not start or the promotion failed (a failure)."""
        if self.decision != ABORTED:
            return exit_codes.OK
        return exit_codes.DIFFERS if self.by_verdict else exit_codes.FAILURE

    def to_dict(self) -> dict:
        return {
            "environment": self.env,
            "project": self.project,
            "service": self.service,
            "decision": self.decision,
            "reason": self.reason,
            "by_verdict": self.by_verdict,
            "from": self.from_,
            "to": self.to,
            "canaries": self.canaries,
            "observed_s": round(self.observed_s, 1),
            "requests": self.requests,
            "errors": self.errors,
            "service_metrics": {
                "requests": self.own_requests,
                "errors": self.own_errors,
            },
            "share": self.share,
            "duration_s": round(self.duration, 2),
            "promotion": self.promotion,
            "exit_code": self.exit_code,
        }


def _canary_counts(engine: Engine, backend: str, names: Sequence[str]) -> Counts:
    proxy = engine.platform.proxy()
    counts = proxy.counts(backend) if proxy else {}
    total = Counts()
    for n in names:
        total = total + counts.get(n, Counts())
    return total


def _own_metrics(
    canaries: Sequence[LiveContainer], local: bool
) -> service_metrics.ServiceMetrics | None:
    if not local:
        return None
    total = None
    for c in canaries:
        m = service_metrics.scrape(c.ip, timeout=1.0)
        if m is not None:
            total = m if total is None else total + m
    return total


def _health_problem(engine: Engine, canaries: Sequence[LiveContainer]) -> str:
    for c in canaries:
        now = engine.platform.inspect(c.id)
        if now is None:
            return f"canary {c.name} disappeared"
        if now.state != "running" or now.restart_count > 0:
            return f"canary {c.name} {now.state} (restarts {now.restart_count})"
        if now.health == "unhealthy":
            return f"canary {c.name} turned unhealthy"
    return ""


def watch(
    engine: Engine,
    opts: CanaryOptions,
    canaries: Sequence[LiveContainer],
    names: Sequence[str],
    result: CanaryResult,
    clock: Callable[[], float] = time.monotonic,
    local: bool = True,  # the canaries' /metrics are reachable from here
) -> Verdict:
    backend = opts.service
    start_proxy = _canary_counts(engine, backend, names)
    start_own = _own_metrics(canaries, local)
    started = clock()
    last_note = started
    while True:
        time.sleep(opts.poll)
        elapsed = clock() - started
        seen = _canary_counts(engine, backend, names).since(start_proxy)
        own_now = _own_metrics(canaries, local)
        own = (
            own_now.since(start_own)
            if own_now is not None and start_own is not None
            else None
        )
        verdict = judge(
            seen,
            own,
            elapsed,
            opts.window,
            opts.max_error_rate,
            opts.min_requests,
            _health_problem(engine, canaries),
        )
        result.observed_s = elapsed
        result.requests, result.errors = seen.requests, seen.errors
        if own is not None:
            result.own_requests, result.own_errors = int(own.requests), int(own.errors)
        if verdict.done:
            return verdict
        if clock() - last_note >= 10:
            last_note = clock()
            engine.step(
                backend,
                "canary_watch",
                f"{elapsed:.0f}/{opts.window:.0f}s: {seen.requests} requests, "
                f"{seen.errors} errors",
            )


def _check(opts: CanaryOptions) -> None:
    check_env(opts.env)
    if opts.replicas < 1:
        raise UsageError("--canary must be 1 or more replicas")
    if not 0 <= opts.max_error_rate < 1:
        raise UsageError("--max-error-rate must be between 0 and 1 (e.g. 0.01)")
    if opts.window <= 0:
        raise UsageError("--canary-window must be positive")


def run(
    access: HostAccess,
    opts: CanaryOptions,
    reporter: Reporter | None = None,
    notifier: notify.Notifier | None = None,
) -> CanaryResult:
    _check(opts)
    reporter = reporter or Reporter()
    notifier = notifier or notify.Notifier.from_env()
    target = ProjectOnHost.of(
        access, opts.env, opts.project, opts.host, proxy_port=opts.proxy_port
    )
    session = DeploySession(
        target,
        access,
        opts.manifest,
        (opts.service,),
        reporter,
        lock_label="canary",
        gitops=opts.gitops,
    )
    session.check()
    unit = next((u for u in session.units if u.service == opts.service), None)
    if unit is None or unit.role != ROLE_HTTP:
        http = [u.service for u in session.units if u.role == ROLE_HTTP]
        known = ", ".join(sorted(http))
        raise UsageError(
            f"a canary needs an HTTP service behind the proxy, not "
            f"'{opts.service}' (one of: {known})"
        )
    result = CanaryResult(opts.env, target.project, opts.service)
    started = time.monotonic()
    with session as s:
        try:
            if opts.service not in s.desired:
                raise UsageError(f"{opts.service} is not in the {opts.env} manifest")
            reporter.plan(s.plan)
            (row,) = [r for r in s.plan.services if r.service == opts.service]
            result.from_ = row.live.short() if row.live else "-"
            result.to = row.desired.short() if row.desired else "-"
            if row.action == "none":
                result.reason = "already running the manifest's version"
                return result
            engine = s.engine(opts.health_timeout)
            news = News(
                notifier, target, unit, s.desired[opts.service], result, access.who()
            )
            local = not access.is_remote(target.host)
            _canary(engine, opts, unit, s.desired[opts.service], result, news, local)
        finally:
            result.duration = time.monotonic() - started
            s.log(
                {
                    "kind": "canary",
                    "result": result.decision,
                    "reason": result.reason,
                    "service": opts.service,
                    "duration_s": round(result.duration, 2),
                }
            )
    return result


def _canary(
    engine: Engine,
    opts: CanaryOptions,
    unit: Unit,
    d: Desired,
    result: CanaryResult,
    news: "News",
    local: bool,
) -> None:
    containers = engine.platform.containers(unit.service)
    if not classify(containers, d.config_hash).retire:  # nothing to compare with
        result.reason = "no old replicas to compare with: rolled out directly"
        result.promotion = engine.roll(unit, d.config_hash, d.replicas)
        result.decision = PROMOTED
        return
    rollout = steps.canary_steps_for(
        unit.service,
        d.config_hash,
        opts.replicas,
        containers,
        engine.serving_addresses(unit.service),
    )

    def gate(run: Run) -> None:
        proxy = run.proxy
        fresh = [engine.platform.inspect(c.id) or c for c in run.serving]
        ips = {c.ip for c in fresh}
        servers = {s.addr: s.name for s in proxy.servers(unit.service) if s.addr}
        names = [servers[ip] for ip in ips if ip in servers]
        old = len(rollout.retiring)
        result.canaries = [c.name for c in fresh]
        result.share = f"{len(fresh)}/{len(fresh) + old} of the replicas"
        engine.step(
            unit.service,
            "canary",
            f"{', '.join(result.canaries)} takes {result.share} (round robin); "
            f"watching {opts.window:.0f}s, max error rate {opts.max_error_rate:.1%}",
        )
        verdict = watch(engine, opts, fresh, names, result, local=local)
        result.reason = verdict.reason
        if not verdict.promote:
            # noted here: the engine hands the abort back as a plain StepFailed
            result.by_verdict = True
            raise Rejected(verdict.reason)

    try:
        engine.run(unit, d.config_hash, rollout, gate=gate)
    except StepFailed as exc:
        if not result.by_verdict:
            result.reason = f"canary failed to start: {str(exc).splitlines()[0]}"
        result.decision = ABORTED
        engine.step(
            unit.service, "canary_abort", f"{result.reason}; old replicas untouched"
        )
        news.send(notify.CANARY_ABORTED, f"{result.from_} keeps serving")
        return
    engine.step(unit.service, "canary_promote", result.reason)
    news.send(notify.CANARY_PROMOTED, f"rolling out {result.to}")
    try:
        result.promotion = engine.roll(unit, d.config_hash, d.replicas)
    except StepFailed as exc:
        # The roll removed what it started; the canary itself goes too, so the old
        # version alone keeps serving, as before the canary.
        engine.take_back(unit, d.config_hash, rollout)
        result.reason = f"promotion failed: {str(exc).splitlines()[0]}"
        result.decision = ABORTED
        engine.step(unit.service, "canary_abort", result.reason)
        return
    result.decision = PROMOTED


@dataclass
class News:
    """The canary's notices: aborted or promoted, with who and what."""

    notifier: notify.Notifier
    target: ProjectOnHost
    unit: Unit
    desired: Desired
    result: CanaryResult
    actor: str  # who deploys

    def send(self, kind: str, *lines: str) -> None:
        if kind == notify.CANARY_ABORTED:
            lines = (*lines, f"tried {self.result.to}")
        self.notifier.send(
            notify.Notice(
                kind,
                self.target.env,
                self.target.project,
                f"{self.unit.service} {self.desired.version}: {self.result.reason}",
                lines,
                actor=self.actor,
            )
        )
