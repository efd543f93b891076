"""`./inv deploy --service NAME --canary N`: try a new version on a share of the traffic
before rolling it out.

    start_canary → wait_healthy → let_in (share: N/(old+N), the proxy's round robin)
      → watch for the window: the canary's error rate, from the proxy's per-server
        statistics (what clients saw: 5xx, connection and response errors) and the
        service's own /metrics (5xx it answered), plus Docker's health
      → promote: the normal rolling update, which adopts the canary as a new replica
      → or abort: drain the canary, remove it by ID; the old replicas never stopped

The deploy lock is held from the first step to the last, so nothing else deploys
while the canary is judged. The steps reuse the rollout engine's (rollout.py): the
same Compose command lines, health wait, proxy slots and container removal by ID.
`judge` (pure) makes the decision from the numbers.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from release import console, deploy_log, live, lock, notify, rollout, service_metrics
from release.adapters.docker_engine import ensure_engine
from release.adapters.proxy import Proxy, by_addr, stat_command
from release.deploy_view import Reporter
from release.errors import ReleaseError, UsageError
from release.live import LiveContainer
from release.manifest import Manifest, load, path_for
from release.plan import ROLE_HTTP, classify, make_plan
from release.project import check_env

PROMOTED, ABORTED, NOTHING = "promoted", "aborted", "nothing to do"


# -- the numbers (pure) ----------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """Responses a server gave through the proxy, and the failures among them."""

    requests: int = 0  # responses of any status, plus connection failures
    errors: int = 0  # 5xx + connection errors + aborted/invalid responses
    status: str = ""  # the proxy's view: UP, DOWN, DRAIN, MAINT, ...

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(
            self.requests + other.requests,
            self.errors + other.errors,
            self.status or other.status,
        )

    def since(self, earlier: "Counts") -> "Counts":
        return Counts(
            self.requests - earlier.requests, self.errors - earlier.errors, self.status
        )

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


_RESPONSES = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")


def parse_counts(text: str) -> dict[tuple[str, str], Counts]:
    """`show stat` CSV → {(backend, server): Counts}."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        return {}
    header = lines[0][2:].split(",")
    col = {name: i for i, name in enumerate(header)}

    def num(row: list[str], name: str) -> int:
        i = col.get(name)
        return int(row[i]) if i is not None and i < len(row) and row[i] else 0

    out = {}
    for line in lines[1:]:
        row = line.split(",")
        if len(row) < len(header) or row[col["svname"]] in ("FRONTEND", "BACKEND"):
            continue
        econ = num(row, "econ")
        out[(row[col["pxname"]], row[col["svname"]])] = Counts(
            requests=sum(num(row, c) for c in _RESPONSES) + econ,
            errors=num(row, "hrsp_5xx") + econ + num(row, "eresp"),
            status=row[col["status"]],
        )
    return out


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


# -- the run ---------------------------------------------------------------------------


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

    @property
    def exit_code(self) -> int:
        return 1 if self.decision == ABORTED else 0

    def to_dict(self) -> dict:
        return {
            "environment": self.env,
            "project": self.project,
            "service": self.service,
            "decision": self.decision,
            "reason": self.reason,
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


def _canary_counts(proxy: Proxy, backend: str, names: Sequence[str]) -> Counts:
    (text,) = proxy.run(stat_command(backend))
    counts = parse_counts(text)
    total = Counts()
    for n in names:
        total = total + counts.get((backend, n), Counts())
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


def _health_problem(t: rollout.Target, canaries: Sequence[LiveContainer]) -> str:
    for c in canaries:
        now = t.inspect(c.id)
        if now is None:
            return f"canary {c.name} disappeared"
        if now.state != "running" or now.restart_count > 0:
            return f"canary {c.name} {now.state} (restarts {now.restart_count})"
        if now.health == "unhealthy":
            return f"canary {c.name} turned unhealthy"
    return ""


def watch(
    t: rollout.Target,
    opts: CanaryOptions,
    proxy: Proxy,
    canaries: Sequence[LiveContainer],
    names: Sequence[str],
    result: CanaryResult,
    clock: Callable[[], float] = time.monotonic,
) -> Verdict:
    backend = opts.service
    local = not (opts.host or os.environ.get("DOCKER_HOST", "")).startswith("ssh://")
    start_proxy = _canary_counts(proxy, backend, names)
    start_own = _own_metrics(canaries, local)
    started = clock()
    last_note = started
    while True:
        time.sleep(opts.poll)
        elapsed = clock() - started
        seen = _canary_counts(proxy, backend, names).since(start_proxy)
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
            _health_problem(t, canaries),
        )
        result.observed_s = elapsed
        result.requests, result.errors = seen.requests, seen.errors
        if own is not None:
            result.own_requests, result.own_errors = int(own.requests), int(own.errors)
        if verdict.done:
            return verdict
        if clock() - last_note >= 10:
            last_note = clock()
            t.step(
                backend,
                "canary_watch",
                f"{elapsed:.0f}/{opts.window:.0f}s: {seen.requests} requests, "
                f"{seen.errors} errors",
            )


def _drain_and_remove(
    t: rollout.Target,
    unit,
    proxy: Proxy,
    canaries: Sequence[LiveContainer],
    initial_ids: set[str],
    old: Sequence[LiveContainer],
) -> None:
    """Abort: no new requests to the canary, in-flight ones finish, then it goes."""
    backend = unit.service
    ips = {c.ip for c in canaries if c.ip}
    servers = by_addr(proxy.servers(backend))
    proxy.set_state(backend, [servers[ip].name for ip in ips if ip in servers], "drain")

    def probe() -> rollout.Probe:
        busy = sum(s.scur for s in proxy.servers(backend) if s.addr in ips)
        return rollout.Probe(busy == 0, detail=f"{busy} in flight")

    try:
        rollout.wait_for(f"{backend} canary drained", probe, 15.0, interval=0.2)
    except rollout.StepFailed:
        pass
    servers = by_addr(proxy.servers(backend))
    proxy.set_state(backend, [servers[ip].name for ip in ips if ip in servers], "maint")
    rollout.abort(t, unit, proxy, initial_ids, [], old)


def run(
    opts: CanaryOptions,
    reporter: Reporter | None = None,
    notifier: notify.Notifier | None = None,
) -> CanaryResult:
    check_env(opts.env)
    if opts.replicas < 1:
        raise UsageError("--canary must be 1 or more replicas")
    if not 0 <= opts.max_error_rate < 1:
        raise UsageError("--max-error-rate must be between 0 and 1 (e.g. 0.01)")
    if opts.window <= 0:
        raise UsageError("--canary-window must be positive")
    reporter = reporter or Reporter()
    notifier = notifier or notify.Notifier.from_env()
    project = opts.project or f"ecotrack-{opts.env}"
    host = opts.host or os.environ.get("DOCKER_HOST", "")
    manifest = opts.manifest or load(path_for(opts.env), opts.env)
    units = rollout.read_units(opts.env)
    unit = next((u for u in units if u.service == opts.service), None)
    if unit is None or unit.role != ROLE_HTTP:
        known = ", ".join(sorted(u.service for u in units if u.role == ROLE_HTTP))
        raise UsageError(
            f"a canary needs an HTTP service behind the proxy, not "
            f"'{opts.service}' (one of: {known})"
        )
    if not host:
        ensure_engine()
    client = live.docker_client(host or None)
    result = CanaryResult(opts.env, project, opts.service)
    started = time.monotonic()
    entry = manifest.services.get(opts.service)
    held = lock.acquire(
        client,
        lock.mine(
            project,
            opts.env,
            f"canary {opts.service} {entry.version if entry else '?'}",
        ),
        on_stale=lambda old: reporter.note(
            f"taking over a stale lock: {old.describe()}"
        ),
    )
    try:
        with tempfile.TemporaryDirectory(prefix="ecotrack-canary-") as tmp:
            state = live.snapshot(client, project)
            compose, desired = rollout.resolve(
                opts.env,
                project,
                manifest,
                units,
                state,
                Path(tmp),
                host,
                opts.proxy_port,
            )
            if opts.service not in desired:
                raise UsageError(f"{opts.service} is not in the {opts.env} manifest")
            plan = make_plan(opts.env, project, [unit], desired, state)
            reporter.plan(plan)
            (row,) = plan.services
            result.from_ = row.live.short() if row.live else "-"
            result.to = row.desired.short() if row.desired else "-"
            if row.action == "none":
                result.reason = "already running the manifest's version"
                return result
            t = rollout.Target(
                opts.env,
                project,
                host or "local",
                client,
                compose,
                {u.service: u for u in units},
                desired,
                reporter,
                opts.health_timeout,
            )
            _canary(t, opts, unit, desired[opts.service], result, reporter, notifier)
    finally:
        lock.release(client, held)
        result.duration = time.monotonic() - started
        deploy_log.record(
            project,
            {
                "at": dt.datetime.now(dt.timezone.utc)
                .replace(microsecond=0)
                .isoformat(),
                "env": opts.env,
                "project": project,
                "host": host or "local",
                "by": lock.who(),
                "kind": "canary",
                "result": result.decision,
                "reason": result.reason,
                "service": opts.service,
                "duration_s": round(result.duration, 2),
            },
        )
    return result


def _canary(
    t: rollout.Target,
    opts: CanaryOptions,
    unit,
    d,
    result: CanaryResult,
    reporter: Reporter,
    notifier: notify.Notifier,
) -> None:
    containers = t.containers(unit.service)
    initial_ids = {c.id for c in containers}
    g = classify(containers, d.config_hash)
    rollout.remove_garbage(t, unit, g.garbage)
    old = list(g.retire)
    proxy = t.proxy()
    if proxy is None:
        raise rollout.DeployError("a canary needs the proxy running: deploy it first")
    if not old:  # nothing to compare with: an ordinary deploy
        result.reason = "no old replicas to compare with: rolled out directly"
        result.promotion = rollout.roll_http(t, unit, d)
        result.decision = PROMOTED
        return
    canaries = list(g.current)  # adopted from an earlier canary, if any
    try:
        need = opts.replicas - len(canaries)
        if need > 0:
            canaries += rollout.start_new(t, unit, need, proxy)
        rollout.wait_healthy(t, unit, canaries)
        # Fresh: a container listed right after it started may not show its address.
        fresh = [t.inspect(c.id) for c in canaries]
        if any(c is None or not c.ip for c in fresh):
            raise rollout.StepFailed("a canary has no network address")
        canaries = [c for c in fresh if c is not None]
        ips = {c.ip for c in canaries}

        def probe() -> rollout.Probe:
            now = by_addr(proxy.servers(unit.service))
            held = [now[ip].name for ip in ips if ip in now and now[ip].forced]
            proxy.set_state(unit.service, held, "ready")
            up = [ip for ip in ips if ip in now and now[ip].up]
            return rollout.Probe(len(up) == len(ips), detail=f"{len(up)}/{len(ips)} UP")

        rollout.wait_for(f"{unit.service} canary UP", probe, rollout.SWITCH_TIMEOUT)
        servers = by_addr(proxy.servers(unit.service))
        names = [servers[ip].name for ip in ips if ip in servers]
        result.canaries = [c.name for c in canaries]
        result.share = f"{len(canaries)}/{len(canaries) + len(old)} of the replicas"
        t.step(
            unit.service,
            "canary",
            f"{', '.join(result.canaries)} takes {result.share} (round robin); "
            f"watching {opts.window:.0f}s, max error rate {opts.max_error_rate:.1%}",
        )
        verdict = watch(t, opts, proxy, canaries, names, result)
    except (rollout.StepFailed, ReleaseError) as exc:
        verdict = Verdict(
            True, False, f"canary failed to start: {str(exc).splitlines()[0]}"
        )
        culprit = getattr(exc, "container", "")
        if culprit:
            reporter.note(t.failure_detail(culprit))
    except KeyboardInterrupt:
        _drain_and_remove(
            t,
            unit,
            proxy,
            [c for c in t.containers(unit.service) if c.id not in initial_ids],
            initial_ids,
            old,
        )
        raise
    result.reason = verdict.reason
    if not verdict.promote:
        new = [c for c in t.containers(unit.service) if c.id not in initial_ids]
        _drain_and_remove(t, unit, proxy, new, initial_ids, old)
        result.decision = ABORTED
        t.step(
            unit.service, "canary_abort", f"{verdict.reason}; old replicas untouched"
        )
        notifier.send(
            notify.Notice(
                notify.CANARY_ABORTED,
                opts.env,
                t.project,
                f"{unit.service} {d.version}: {verdict.reason}",
                (f"{result.from_} keeps serving", f"tried {result.to}"),
                actor=lock.who(),
            )
        )
        return
    t.step(unit.service, "canary_promote", verdict.reason)
    notifier.send(
        notify.Notice(
            notify.CANARY_PROMOTED,
            opts.env,
            t.project,
            f"{unit.service} {d.version}: {verdict.reason}",
            (f"rolling out {result.to}",),
            actor=lock.who(),
        )
    )
    try:
        result.promotion = rollout.roll_http(t, unit, d)
    except rollout.StepFailed as exc:
        # The rollout removed what it started; the canary itself goes too, so the
        # old version alone keeps serving, as before the canary.
        new = [c for c in t.containers(unit.service) if c.id not in initial_ids]
        _drain_and_remove(t, unit, proxy, new, initial_ids, old)
        result.decision = ABORTED
        result.reason = f"promotion failed: {str(exc).splitlines()[0]}"
        t.step(unit.service, "canary_abort", result.reason)
        return
    result.decision = PROMOTED


# -- `./inv deploy --canary N` ---------------------------------------------------------


def render(result: CanaryResult, as_json: bool = False) -> None:
    if as_json:
        console.data(json.dumps(result.to_dict(), indent=2))
        return
    console.table(
        f"canary of {result.service} in {result.env} ({result.project}): "
        + result.decision.upper(),
        ["service", "from → to", "canary", "observed", "requests", "errors", "why"],
        [
            [
                result.service,
                f"{result.from_} → {result.to}",
                ", ".join(result.canaries) or "-",
                f"{result.observed_s:.0f}s",
                f"{result.requests} (own /metrics: {result.own_requests})",
                f"{result.errors} (own /metrics: {result.own_errors})",
                result.reason,
            ]
        ],
    )


def command(
    env: str,
    services: Sequence[str],
    replicas: int,
    window: float,
    max_error_rate: float,
    *,
    host: str = "",
    as_json: bool = False,
    health_timeout: float = 120.0,
    project: str = "",
    manifest: str = "",
    port: int = 0,
) -> int:
    """The task layer's call: one service, a canary, a decision; exit 1 on abort."""
    check_env(env)
    if len(services) != 1:
        raise UsageError("--canary needs exactly one --service")
    project = project or f"ecotrack-{env}"
    notifier = notify.Notifier.from_env()
    reporter = notify.NotifyingReporter(notifier, env, project, as_json=as_json)
    result = run(
        CanaryOptions(
            env=env,
            service=services[0],
            replicas=replicas,
            window=window,
            max_error_rate=max_error_rate,
            project=project,
            host=host or None,
            health_timeout=health_timeout,
            manifest=load(Path(manifest), env) if manifest else None,
            proxy_port=port or None,
        ),
        reporter,
        notifier,
    )
    render(result, as_json)
    return result.exit_code
