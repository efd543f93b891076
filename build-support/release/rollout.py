"""Deploys an environment's manifest to its Docker host without dropping requests.

    deploy = lock → desired (manifest + Compose + secrets) → live → plan → per service:

    HTTP service   start_new → wait_healthy → switch_traffic → drain → retire_old
    worker         stop_old (finishes its job) → start_new → wait_healthy → retire_old
    on failure     abort: remove only the new containers, old ones keep serving

New replicas are created beside the old ones by Compose itself (`create --scale N+k
--no-recreate`, so `docker compose ps` shows them) and started by ID at a low CPU
weight while the proxy keeps them out (their server slots are parked in
maintenance); once Docker reports every new one healthy they get their full CPU
weight, the proxy lets them in, waits until its own checks see them UP, then drains
the old ones, and only when they have no request in flight are they stopped (SIGTERM,
the service's grace period) and removed by ID. Nothing is ever removed to get back to
N replicas: a re-run adopts what a killed run left and converges.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from release import deploy_log, live, lock
from release.adapters import compose as compose_adapter
from release.adapters import proc
from release.adapters.compose import Compose, compose_files
from release.adapters.docker_engine import ensure_engine
from release.adapters.proxy import Proxy, ProxyError, by_addr
from release.deploy_view import Reporter
from release.errors import ReleaseError, UsageError
from release.live import LiveContainer
from release.manifest import Manifest, load, path_for
from release.plan import (
    ROLE_HTTP,
    ROLE_PROXY,
    ROLE_WORKER,
    Desired,
    Plan,
    ServicePlan,
    Unit,
    classify,
    compose_override,
    config_hash,
    desired_units,
    make_plan,
    secrets_hash,
    select,
    split_current,
    units_from_compose,
    with_hashes,
)
from release.project import ROOT, check_env
from release.secrets import ensure_secrets, read_env_file, secrets_file

PAUSE_ENV = "ECOTRACK_DEPLOY_PAUSE_AFTER"  # fault injection for the reliability tests
PLACEHOLDER_IMAGE = "ecotrack.invalid/unused:none"
WARMUP_CPU_SHARES = 128  # new replicas start at 1/8 of the normal CPU weight
DEFAULT_CPU_SHARES = 1024
SWITCH_TIMEOUT = 45.0  # new replicas UP in the proxy's own checks
FORGET_TIMEOUT = 15.0  # the proxy's DNS drops removed replicas


class DeployError(ReleaseError):
    """A deploy could not be planned or carried out."""


class DeployFailed(DeployError):
    """A service failed its rollout (and was rolled back); `result` says which."""

    def __init__(self, message: str, result: "DeployResult"):
        super().__init__(message)
        self.result = result


class StepFailed(Exception):
    """A rollout step failed; `container` names the container to blame, if any."""

    def __init__(self, message: str, container: str = ""):
        super().__init__(message)
        self.container = container


# -- results ------------------------------------------------------------------------


@dataclass
class Outcome:
    service: str
    action: str
    from_: str
    to: str
    duration: float = 0.0
    result: str = "skipped"  # ok | failed | skipped
    detail: str = ""

    def to_dict(self) -> dict:
        return {
            "service": self.service,
            "action": self.action,
            "from": self.from_,
            "to": self.to,
            "duration_s": round(self.duration, 2),
            "result": self.result,
            "detail": self.detail,
        }


@dataclass
class DeployResult:
    environment: str
    project: str
    host: str
    plan: Plan
    dry_run: bool
    started_at: str
    outcomes: list[Outcome] = field(default_factory=list)
    duration: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and all(o.result == "ok" for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        if self.dry_run:
            return 0 if self.plan.in_sync else 2
        return 0 if self.ok else 1

    def to_dict(self) -> dict:
        return {
            "environment": self.environment,
            "project": self.project,
            "host": self.host,
            "dry_run": self.dry_run,
            "started_at": self.started_at,
            "duration_s": round(self.duration, 2),
            "result": ("dry-run" if self.dry_run else ("ok" if self.ok else "failed")),
            "exit_code": self.exit_code,
            "error": self.error,
            "plan": self.plan.to_dict(),
            "services": [o.to_dict() for o in self.outcomes],
        }


# -- compose command lines (tested by equality) ---------------------------------------


def scale_up_args(service: str, total: int) -> list[str]:
    """Starts new replicas beside the running ones, never touching those (the
    rollout creates them first instead, see create_args; kept for callers)."""
    return [
        "up",
        "-d",
        "--quiet-pull",
        "--no-deps",
        "--no-recreate",
        "--scale",
        f"{service}={total}",
        service,
    ]


def create_args(service: str, total: int) -> list[str]:
    """Creates (without starting) new containers beside the existing ones, running
    or stopped, never touching those: `--scale` counts them all."""
    return [
        "create",
        "--quiet-pull",
        "--no-recreate",
        "--scale",
        f"{service}={total}",
        service,
    ]


def recreate_args(service: str) -> list[str]:
    return ["up", "-d", "--quiet-pull", "--no-deps", service]


CONFIG_ARGS = ["config", "--format", "json"]


# -- the one wait ---------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    done: bool
    failed: str = ""
    detail: str = ""
    container: str = ""


def wait_for(
    what: str,
    probe: Callable[[], Probe],
    timeout: float,
    interval: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Polls `probe` until it is done (returns the seconds it took), fails fast when it
    reports a failure, or raises StepFailed once the deadline has passed."""
    started = clock()
    deadline = started + timeout
    while True:
        result = probe()
        if result.failed:
            raise StepFailed(result.failed, result.container)
        if result.done:
            return clock() - started
        if clock() >= deadline:
            raise StepFailed(
                f"{what}: not done after {timeout:.0f}s ({result.detail})",
                result.container,
            )
        sleep(interval)


def health_probe(states: Callable[[], list[LiveContainer | None]]) -> Probe:
    """Docker's health of the given containers: all healthy (or without a health
    check and running) is done; unhealthy, exited or restarting fails at once."""
    containers = states()
    for c in containers:
        if c is None:
            return Probe(False, failed="a new container disappeared")
        if c.state != "running" or c.restart_count > 0:
            return Probe(
                False,
                failed=f"{c.name} {c.state} (exit {c.exit_code}, "
                f"restarts {c.restart_count})",
                container=c.id,
            )
        if c.health == "unhealthy":
            return Probe(False, failed=f"{c.name} is unhealthy", container=c.id)
    ready = [c for c in containers if c.health in ("healthy", "none")]
    waiting = next((c for c in containers if c not in ready), None)
    return Probe(
        done=len(ready) == len(containers),
        detail=f"{len(ready)}/{len(containers)} healthy",
        container=waiting.id if waiting else "",
    )


# -- the target: one Compose project on one Docker host -------------------------------


@dataclass
class Target:
    env: str
    project: str
    host: str
    client: object  # docker SDK client
    compose: Compose
    units: dict[str, Unit]
    desired: dict[str, Desired]
    reporter: Reporter
    health_timeout: float = 120.0
    drain_timeout: float = 30.0

    def containers(self, service: str) -> tuple[LiveContainer, ...]:
        return live.snapshot(self.client, self.project, service).containers

    def inspect(self, container_id: str) -> LiveContainer | None:
        return live.inspect(self.client, container_id)

    def proxy(self) -> Proxy | None:
        proxies = [
            c
            for unit in self.units.values()
            if unit.role == ROLE_PROXY
            for c in self.containers(unit.service)
            if c.state == "running"
        ]
        if not proxies:
            return None
        return Proxy(self.client.containers.get(proxies[0].id), self.host)

    def step(self, service: str, step: str, message: str) -> None:
        self.reporter.step(service, step, message)

    def checkpoint(self, service: str, step: str) -> None:
        """Fault injection for the reliability tests: pause after a named step."""
        want = os.environ.get(PAUSE_ENV, "")
        if want and want in (step, f"{service}:{step}"):
            self.reporter.note(f"paused after {service}:{step} (pid {os.getpid()})")
            time.sleep(3600)

    # container operations, always by ID

    def stop(self, c: LiveContainer, grace: float) -> int:
        self.client.api.stop(c.id, timeout=int(grace))
        after = self.inspect(c.id)
        return after.exit_code if after else 0

    def remove(self, c: LiveContainer) -> None:
        import docker

        try:
            self.client.api.remove_container(c.id, force=True)
        except docker.errors.NotFound:
            pass

    def failure_detail(self, container_id: str) -> str:
        if not container_id:
            return ""
        check = live.health_log(self.client, container_id)
        logs = live.logs_tail(self.client, container_id)
        parts = []
        if check:
            parts.append(f"last health check: {check[-300:]}")
        parts.append(
            f"last log lines of {container_id[:12]}:\n" + (logs or "(no output)")
        )
        return "\n".join(parts)


# -- steps --------------------------------------------------------------------------


def _names(containers: Sequence[LiveContainer]) -> str:
    return ", ".join(c.name for c in containers) or "none"


def remove_garbage(t: Target, unit: Unit, garbage: Sequence[LiveContainer]) -> None:
    """Containers that are not running serve nothing: removed by ID straight away."""
    for c in garbage:
        t.remove(c)
    if garbage:
        t.step(unit.service, "clean_up", f"removed {len(garbage)}: {_names(garbage)}")


def park(t: Target, unit: Unit, proxy: Proxy | None, need: int) -> None:
    """Empty server slots go to maintenance, so new replicas get no traffic before
    the switch, whatever the proxy's DNS discovery and checks say."""
    if proxy is None:
        return
    servers = proxy.servers(unit.service)
    empty = [s for s in servers if s.empty]
    if len(empty) < need:
        raise StepFailed(
            f"the proxy has {len(empty)} free server slots in backend "
            f"{unit.service} for {need} new replicas (server-template in "
            "gitops/proxy/haproxy.cfg)"
        )
    proxy.set_state(unit.service, [s.name for s in empty if not s.forced], "maint")


def create_and_start(
    t: Target, unit: Unit, need: int
) -> tuple[list[LiveContainer], int]:
    """Compose creates the new replicas beside the existing containers (its own
    labels, so `docker compose ps` lists them); we start them by ID, at a low CPU
    weight while they warm up, so the replicas serving traffic keep their CPU."""
    before = t.containers(unit.service)
    t.compose.run(*create_args(unit.service, len(before) + need), timeout=900)
    ids = {c.id for c in before}
    new = [c for c in t.containers(unit.service) if c.id not in ids]
    if len(new) != need:
        raise StepFailed(f"Compose created {len(new)} containers, expected {need}")
    for c in new:
        t.client.api.update_container(c.id, cpu_shares=WARMUP_CPU_SHARES)
    # Together: each start briefly stalls the engine's networking, once is enough.
    with ThreadPoolExecutor(max_workers=len(new) or 1) as pool:
        list(pool.map(lambda c: t.client.api.start(c.id), new))
    # Read again: a container gets its address on the network when it starts.
    started = [t.inspect(c.id) or c for c in new]
    return started, len([c for c in before if c.state == "running"])


def full_weight(t: Target, containers: Sequence[LiveContainer]) -> None:
    """Healthy replicas get the normal CPU weight back (idempotent)."""
    for c in containers:
        t.client.api.update_container(c.id, cpu_shares=DEFAULT_CPU_SHARES)


def start_new(
    t: Target, unit: Unit, need: int, proxy: Proxy | None
) -> list[LiveContainer]:
    started = time.monotonic()
    park(t, unit, proxy, need)
    new, running = create_and_start(t, unit, need)
    t.step(
        unit.service,
        "start_new",
        f"{need} new beside {running} running: {_names(new)} "
        f"in {time.monotonic() - started:.1f}s",
    )
    t.checkpoint(unit.service, "start_new")
    return new


def wait_healthy(t: Target, unit: Unit, containers: Sequence[LiveContainer]) -> None:
    if not containers:
        return
    t.step(
        unit.service,
        "wait_healthy",
        f"waiting for {len(containers)} (timeout {t.health_timeout:.0f}s)",
    )
    took = wait_for(
        f"{unit.service} healthy",
        lambda: health_probe(lambda: [t.inspect(c.id) for c in containers]),
        t.health_timeout,
    )
    t.step(
        unit.service,
        "wait_healthy",
        f"{len(containers)}/{len(containers)} healthy in {took:.1f}s",
    )
    full_weight(t, containers)


def switch_traffic(
    t: Target,
    unit: Unit,
    proxy: Proxy | None,
    serving: Sequence[LiveContainer],
    retiring: Sequence[LiveContainer],
) -> None:
    if proxy is None:
        t.step(unit.service, "switch_traffic", "no proxy running: nothing to switch")
        return
    backend = unit.service
    fresh = [t.inspect(c.id) for c in serving]
    missing = [c.name for c, f in zip(serving, fresh) if f is None or not f.ip]
    if missing:  # never drain the old ones without knowing where the new ones are
        raise StepFailed(f"no network address for {', '.join(missing)}")
    ips = {f.ip for f in fresh if f}

    def probe() -> Probe:
        servers = by_addr(proxy.servers(backend))
        held = [servers[ip].name for ip in ips if ip in servers and servers[ip].forced]
        proxy.set_state(backend, held, "ready")
        up = [ip for ip in ips if ip in servers and servers[ip].up]
        return Probe(len(up) == len(ips), detail=f"{len(up)}/{len(ips)} UP")

    took = wait_for(f"{backend} UP in the proxy", probe, SWITCH_TIMEOUT)
    servers = by_addr(proxy.servers(backend))
    old = [servers[c.ip].name for c in retiring if c.ip in servers]
    proxy.set_state(backend, old, "drain")
    t.step(
        backend,
        "switch_traffic",
        f"{len(ips)} UP in the proxy after {took:.1f}s; draining {len(old)}",
    )
    t.checkpoint(backend, "switch_traffic")


def drain(
    t: Target, unit: Unit, proxy: Proxy | None, retiring: Sequence[LiveContainer]
) -> None:
    if proxy is None or not retiring:
        return
    backend = unit.service
    ips = {c.ip for c in retiring if c.ip}

    def probe() -> Probe:
        servers = [s for s in proxy.servers(backend) if s.addr in ips]
        busy = sum(s.scur for s in servers)
        return Probe(busy == 0, detail=f"{busy} requests in flight")

    try:
        took = wait_for(f"{backend} drained", probe, t.drain_timeout, interval=0.2)
        message = f"0 requests in flight on {len(ips)} after {took:.1f}s"
    except StepFailed as exc:  # stopping still gives them the grace period
        message = f"{exc}; stopping anyway (grace {unit.stop_grace:.0f}s)"
    servers = by_addr(proxy.servers(backend))
    proxy.set_state(backend, [servers[ip].name for ip in ips if ip in servers], "maint")
    t.step(backend, "drain", message)


def retire_old(t: Target, unit: Unit, retiring: Sequence[LiveContainer]) -> list:
    """SIGTERM, the grace period, then removal: one by one, by ID."""
    started = time.monotonic()
    codes = []
    for i, c in enumerate(retiring):
        codes.append(t.stop(c, unit.stop_grace))
        if i == 0:
            t.checkpoint(unit.service, "stop_first")
        t.remove(c)
    if retiring:
        t.step(
            unit.service,
            "retire_old",
            f"stopped and removed {len(retiring)} ({_names(retiring)}; exit "
            f"{','.join(map(str, codes))}) in {time.monotonic() - started:.1f}s",
        )
    return codes


def release_slots(
    t: Target,
    unit: Unit,
    proxy: Proxy | None,
    gone: Sequence[LiveContainer],
    keep_held: Sequence[LiveContainer] = (),
) -> None:
    """Once the proxy has forgotten the removed replicas, every slot we held goes back
    to `ready` (except those of `keep_held`), so later replicas are not kept out."""
    if proxy is None:
        return
    backend = unit.service
    gone_ips = {c.ip for c in gone if c.ip}
    held_ips = {c.ip for c in keep_held if c.ip}

    def probe() -> Probe:
        left = [s for s in proxy.servers(backend) if s.addr in gone_ips]
        return Probe(not left, detail=f"{len(left)} removed replicas still known")

    try:
        wait_for(f"{backend} forgets removed replicas", probe, FORGET_TIMEOUT)
    except StepFailed:
        pass  # those slots stay in maintenance; the next deploy releases them
    proxy.set_state(
        backend,
        [
            s.name
            for s in proxy.servers(backend)
            if s.forced and s.addr not in gone_ips and s.addr not in held_ips
        ],
        "ready",
    )


def abort(
    t: Target,
    unit: Unit,
    proxy: Proxy | None,
    initial_ids: set[str],
    unproven: Sequence[LiveContainer],
    retiring: Sequence[LiveContainer],
) -> list[LiveContainer]:
    """Removes the containers this attempt started (and unproven ones a killed attempt
    left) by ID; the old ones are put back into service if they were drained."""
    new = [c for c in t.containers(unit.service) if c.id not in initial_ids]
    doomed = {c.id: c for c in [*new, *unproven]}
    for c in doomed.values():
        t.remove(c)
    try:
        release_slots(t, unit, proxy, list(doomed.values()))
    except ProxyError as exc:
        t.step(unit.service, "abort", f"proxy not restored: {exc}")
    t.step(
        unit.service,
        "abort",
        f"removed {len(doomed)} new ({_names(list(doomed.values()))}); "
        f"{len(retiring)} old keep serving",
    )
    return list(doomed.values())


# -- per role -----------------------------------------------------------------------


def roll_http(t: Target, unit: Unit, d: Desired) -> str:
    containers = t.containers(unit.service)
    initial_ids = {c.id for c in containers}
    g = classify(containers, d.config_hash)
    remove_garbage(t, unit, g.garbage)
    keep, extra = split_current(g.current, d.replicas)
    retiring = list(g.retire) + list(extra)
    unproven = [c for c in keep if c.health not in ("healthy", "none")]
    proxy = t.proxy()
    serving = list(keep)
    try:
        need = d.replicas - len(keep)
        if need > 0:
            serving += start_new(t, unit, need, proxy)
        wait_healthy(t, unit, serving)
        switch_traffic(t, unit, proxy, serving, retiring)
        drain(t, unit, proxy, retiring)
    except (StepFailed, ReleaseError, KeyboardInterrupt) as exc:
        culprit = getattr(exc, "container", "")
        detail = t.failure_detail(culprit)  # before the container goes
        abort(t, unit, proxy, initial_ids, unproven, retiring)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise StepFailed(f"{exc}" + (f"\n{detail}" if detail else "")) from None
    retire_old(t, unit, retiring)
    release_slots(t, unit, proxy, retiring)
    return f"{len(serving)} serving"


def roll_worker(t: Target, unit: Unit, d: Desired) -> str:
    """Stop-first: the old worker finishes its current job and exits before the new
    one starts (two workers never share the job table); it is kept, stopped, until
    the new one is healthy, and started again if the new one fails."""
    containers = t.containers(unit.service)
    initial_ids = {c.id for c in containers}
    g = classify(containers, d.config_hash)
    remove_garbage(t, unit, g.garbage)
    keep, extra = split_current(g.current, d.replicas)
    retiring = list(g.retire) + list(extra)
    unproven = [c for c in keep if c.health not in ("healthy", "none")]
    need = d.replicas - len(keep)
    started = time.monotonic()
    codes = [t.stop(c, unit.stop_grace) for c in retiring]
    if retiring:
        t.step(
            unit.service,
            "stop_old",
            f"stopped {len(retiring)} ({_names(retiring)}) after their current job: "
            f"exit {','.join(map(str, codes))} in {time.monotonic() - started:.1f}s",
        )
    t.checkpoint(unit.service, "stop_old")
    try:
        new = []
        if need > 0:
            new, _ = create_and_start(t, unit, need)
            t.step(unit.service, "start_new", f"started {_names(new)}")
        wait_healthy(t, unit, list(keep) + new)
    except (StepFailed, ReleaseError, KeyboardInterrupt) as exc:
        detail = t.failure_detail(getattr(exc, "container", ""))
        abort(t, unit, None, initial_ids, unproven, retiring)
        for c in retiring:
            t.client.api.start(c.id)
        t.step(unit.service, "abort", f"restarted the old {_names(retiring)}")
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise StepFailed(f"{exc}" + (f"\n{detail}" if detail else "")) from None
    for c in retiring:
        t.remove(c)
    if retiring:
        t.step(unit.service, "retire_old", f"removed {_names(retiring)}")
    bad = [c for c, code in zip(retiring, codes) if code != 0]
    return (
        f"old worker exit codes {codes}" + (" (killed after grace)" if bad else "")
        if retiring
        else "started"
    )


def roll_proxy(t: Target, unit: Unit, d: Desired) -> str:
    """The entry point cannot run twice on one port: Compose recreates it (a brief
    interruption, said so in the plan)."""
    g = classify(t.containers(unit.service), d.config_hash)
    remove_garbage(t, unit, g.garbage)
    if d.replicas == 0:
        for c in g.current + g.retire:
            t.stop(c, unit.stop_grace)
            t.remove(c)
        return "removed"
    t.compose.run(*recreate_args(unit.service), timeout=900)
    current = classify(t.containers(unit.service), d.config_hash).current
    if not current:
        raise StepFailed("Compose did not start the proxy")
    wait_healthy(t, unit, current)
    return "running"


ROLLS = {ROLE_HTTP: roll_http, ROLE_WORKER: roll_worker, ROLE_PROXY: roll_proxy}


def tidy_proxy(t: Target, services: Sequence[ServicePlan]) -> None:
    """After a deploy: slots a killed run left held go back to `ready` for services
    that are in sync (their running containers are all current)."""
    proxy = t.proxy()
    if proxy is None:
        return
    for s in services:
        unit = t.units[s.service]
        if unit.role != ROLE_HTTP or s.service not in t.desired:
            continue
        running = [c for c in t.containers(s.service) if c.state == "running"]
        if classify(running, t.desired[s.service].config_hash).retire:
            continue
        ips = {c.ip for c in running}
        servers = proxy.servers(s.service)
        held = [x.name for x in servers if x.forced and (x.empty or x.addr in ips)]
        if held:
            proxy.set_state(s.service, held, "ready")
            t.step(s.service, "tidy", f"released {len(held)} held proxy slot(s)")


# -- desired state from the manifest, the Compose files and the secrets ----------------


def read_units(env: str) -> tuple[Unit, ...]:
    docs = []
    for path in compose_files(env):
        try:
            docs.append(yaml.safe_load(path.read_text()) or {})
        except (OSError, yaml.YAMLError) as exc:
            raise DeployError(f"{path}: cannot read: {exc}") from None
    return units_from_compose(docs)


def _secrets_path(env: str, project: str, needed: bool, workdir: Path) -> Path:
    override = os.environ.get("ECOTRACK_SECRETS_FILE")
    if override:
        path = Path(override)
    elif env == "local":
        return ensure_secrets(project)  # the local environment makes its own
    else:
        path = secrets_file(project)
    if path.is_file():
        return path
    if needed:
        raise DeployError(
            f"no secrets for {env}: put them in {path} (KEY=value lines, mode 0600) "
            "or point ECOTRACK_SECRETS_FILE at such a file"
        )
    empty = workdir / "no-secrets.env"
    empty.write_text("")
    return empty


def _proxy_variables(
    units: Sequence[Unit], state: live.LiveState, port: int | None, bind: str | None
) -> dict[str, str]:
    published: tuple = ()
    for u in units:
        if u.role == ROLE_PROXY:
            for c in state.for_service(u.service):
                if c.state == "running" and c.published:
                    published = c.published[0]
    out = {}
    if port or published:
        out["PROXY_PORT"] = str(port or published[1])
    if bind or published:
        out["PROXY_BIND"] = bind or published[0]
    return out


def resolve(
    env: str,
    project: str,
    manifest: Manifest,
    units: Sequence[Unit],
    state: live.LiveState,
    workdir: Path,
    host: str,
    proxy_port: int | None = None,
    proxy_bind: str | None = None,
) -> tuple[Compose, dict[str, Desired]]:
    """The Compose project with the deploy's override, and each managed service's
    desired state with the hash of its resolved configuration."""
    needed = any(u.uses_secrets and u.entry in manifest.services for u in units)
    secrets_path = _secrets_path(env, project, needed, workdir)
    fingerprint = secrets_hash(read_env_file(secrets_path))
    desired = desired_units(manifest, units, fingerprint)
    images = {}
    for u in units:
        if u.entry in manifest.services:
            images[u.entry] = manifest.services[u.entry].image
        else:
            running = [c.image for c in state.for_service(u.service) if c.image]
            images.setdefault(u.entry, running[0] if running else PLACEHOLDER_IMAGE)
    variables = {
        f"{entry.upper().replace('-', '_')}_IMAGE": ref for entry, ref in images.items()
    }
    variables["ECOTRACK_SECRETS_FILE"] = str(secrets_path)
    variables.update(_proxy_variables(units, state, proxy_port, proxy_bind))
    if host:
        variables["DOCKER_HOST"] = host
    override = workdir / "compose.deploy.json"
    override.write_text(json.dumps(compose_override(desired), indent=2))
    compose = Compose(
        project=project,
        env=env,
        variables=variables,
        binary=compose_adapter.compose_binary(),
        extra_files=(override,),
    )
    # The resolved config holds the secrets' values: hashed here, never printed.
    r = proc.run(
        compose.command(*CONFIG_ARGS),
        cwd=ROOT,
        env=dict(compose.variables),
        check=False,
        timeout=120,
    )
    if r.returncode != 0:
        raise DeployError(
            "docker compose config failed: " + " ".join(r.stderr.strip().splitlines())
        )
    resolved = json.loads(r.stdout).get("services", {})
    hashes = {name: config_hash(resolved[name]) for name in desired}
    desired = with_hashes(desired, hashes)
    override.write_text(json.dumps(compose_override(desired, hashes), indent=2))
    return compose, desired


# -- the entry point ------------------------------------------------------------------


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def _run_service(t: Target, s: ServicePlan) -> Outcome:
    outcome = Outcome(
        s.service,
        s.action,
        s.live.short() if s.live else "-",
        s.desired.short() if s.desired else "-",
    )
    started = time.monotonic()
    unit = t.units[s.service]
    t.reporter.info(f"{s.service}: {s.action} ({', '.join(s.reasons) or unit.role})")
    try:
        outcome.detail = ROLLS[unit.role](t, unit, t.desired[s.service])
        outcome.result = "ok"
    except (StepFailed, ReleaseError) as exc:
        outcome.result = "failed"
        outcome.detail = f"{exc}"
    outcome.duration = time.monotonic() - started
    t.step(
        s.service,
        "done" if outcome.result == "ok" else "FAILED",
        f"{outcome.result} in {outcome.duration:.1f}s",
    )
    return outcome


def apply(t: Target, plan: Plan, parallel: bool = False) -> list[Outcome]:
    """Carries out the plan: one service at a time in the plan's order (a failure
    stops the rest); with `parallel`, one lane per manifest entry (API, then its
    worker) after the proxy, since services share nothing but the proxy's runtime
    API, whose per-backend commands are independent."""
    changes = list(plan.changes)
    if not parallel:
        outcomes = []
        for s in changes:
            if outcomes and outcomes[-1].result == "failed":
                outcomes.append(Outcome(s.service, s.action, "-", "-"))
                continue
            outcomes.append(_run_service(t, s))
        return outcomes
    first = [s for s in changes if t.units[s.service].role == ROLE_PROXY]
    outcomes = [_run_service(t, s) for s in first]
    lanes: dict[str, list[ServicePlan]] = {}
    for s in changes:
        if s not in first:
            lanes.setdefault(s.entry, []).append(s)

    def run_lane(lane: list[ServicePlan]) -> list[Outcome]:
        done: list[Outcome] = []
        for s in lane:
            if done and done[-1].result == "failed":
                done.append(Outcome(s.service, s.action, "-", "-"))
            else:
                done.append(_run_service(t, s))
        return done

    if any(o.result == "failed" for o in outcomes):
        return outcomes + [
            Outcome(s.service, s.action, "-", "-")
            for lane in lanes.values()
            for s in lane
        ]
    with ThreadPoolExecutor(max_workers=max(1, len(lanes))) as pool:
        for done in pool.map(run_lane, lanes.values()):
            outcomes += done
    order = {s.service: i for i, s in enumerate(changes)}
    return sorted(outcomes, key=lambda o: order.get(o.service, 0))


def _on_sigterm(signum, frame):  # a cancelled CI job: abort cleanly like Ctrl-C
    raise KeyboardInterrupt


def deploy(
    env: str = "local",
    *,
    services: Sequence[str] = (),
    manifest: Manifest | None = None,
    project: str = "",
    host: str | None = None,
    dry_run: bool = False,
    health_timeout: float = 120.0,
    drain_timeout: float = 30.0,
    parallel: bool = False,
    proxy_port: int | None = None,
    proxy_bind: str | None = None,
    reporter: Reporter | None = None,
) -> DeployResult:
    """Makes the Docker host run what `manifest` (default: gitops/versions/<env>.json)
    says, for the named services (default: all), and returns what it did.

    Raises DeployFailed (exit 1) when a service failed its health gate (its new
    containers removed, the old ones serving, the attempt recorded), LockError
    (exit 4) when another deploy holds the lock, other ReleaseErrors for bad input.
    With dry_run it only plans: `result.exit_code` is 2 with changes, 0 in sync.
    """
    check_env(env)
    reporter = reporter or Reporter()
    project = project or f"ecotrack-{env}"
    host = host or os.environ.get("DOCKER_HOST", "")
    if manifest is None:
        manifest = load(path_for(env), env)
    if manifest.environment != env:
        raise UsageError(
            f"the manifest is for '{manifest.environment}', not for '{env}'"
        )
    if not manifest.services:
        reporter.note(
            f"the {env} manifest names no services yet (./inv publish records them)"
        )
    units = read_units(env)
    chosen = select(units, services)
    unknown = sorted(
        set(services) - {u.service for u in units} - {u.entry for u in units}
    )
    if unknown:
        raise UsageError(
            f"unknown service {', '.join(unknown)} (known: "
            f"{', '.join(sorted({u.service for u in units}))})"
        )
    if not host:
        ensure_engine()
    client = live.docker_client(host or None)
    started_at, started = _now(), time.monotonic()
    held = None
    if not dry_run:
        version = ", ".join(
            f"{u.entry} {manifest.services[u.entry].version}"
            for u in chosen
            if u.entry in manifest.services and u.role != ROLE_WORKER
        )
        try:
            held = lock.acquire(
                client,
                lock.mine(project, env, version or "nothing"),
                on_stale=lambda old: reporter.note(
                    f"taking over a stale deploy lock: {old.describe()}"
                ),
            )
        except lock.LockError as exc:
            deploy_log.record(
                project,
                {
                    "at": started_at,
                    "env": env,
                    "project": project,
                    "host": host or "local",
                    "result": "refused",
                    "reason": str(exc),
                    "by": lock.who(),
                },
            )
            raise
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with tempfile.TemporaryDirectory(prefix="ecotrack-deploy-") as tmp:
            state = live.snapshot(client, project)
            compose, desired = resolve(
                env,
                project,
                manifest,
                units,
                state,
                Path(tmp),
                host,
                proxy_port,
                proxy_bind,
            )
            plan = make_plan(env, project, chosen, desired, state)
            reporter.plan(plan)
            result = DeployResult(
                env, project, host or "local", plan, dry_run, started_at
            )
            if dry_run:
                result.duration = time.monotonic() - started
                return result
            target = Target(
                env,
                project,
                host or "local",
                client,
                compose,
                {u.service: u for u in units},
                desired,
                reporter,
                health_timeout,
                drain_timeout,
            )
            try:
                result.outcomes = apply(target, plan, parallel)
                tidy_proxy(target, plan.services)
            except KeyboardInterrupt:
                result.error = "interrupted"
            except ReleaseError as exc:
                result.error = str(exc)
            result.duration = time.monotonic() - started
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if held is not None:
            lock.release(client, held)
    failed = [o for o in result.outcomes if o.result == "failed"]
    deploy_log.record(
        project,
        {
            "at": started_at,
            "env": env,
            "project": project,
            "host": host or "local",
            "by": lock.who(),
            "result": "ok" if result.ok else "failed",
            "reason": result.error
            or (f"{failed[0].service}: {failed[0].detail}" if failed else ""),
            "duration_s": round(result.duration, 2),
            "services": [o.to_dict() for o in result.outcomes],
        },
    )
    if not result.ok:
        first = failed[0] if failed else None
        message = (
            f"{first.service}: {first.detail}"
            if first
            else f"deploy stopped: {result.error}"
        )
        raise DeployFailed(message, result)
    return result
