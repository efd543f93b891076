"""Carries out one service's rollout steps (steps.py) through a Platform.

New replicas are created beside the old ones and started by ID at a low CPU weight
while the proxy keeps them out (their server slots are parked in maintenance); once
Docker reports every new one healthy they get their full CPU weight, the proxy lets
them in, waits until its own checks see them UP, then drains the old ones, and only
when they have no request in flight are they stopped (SIGTERM, the service's grace
period) and removed by ID. A failed step aborts: only the new containers go, the old
ones keep serving. Every effect goes through the platform, so a test can stop the
engine between any two of its calls. A canary's steps are in canary_steps.py; the
rollout in progress (Run) in run.py.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from release.adapters.proxy import ADMIN_FDRAIN, Server, by_addr
from release.deploy import steps as S
from release.deploy.canary_steps import CanarySteps
from release.deploy.platform import (
    DEFAULT_CPU_SHARES,
    WARMUP_CPU_SHARES,
    Platform,
    ProxyAdmin,
    SerializedProxy,
)
from release.deploy.results import StepFailed
from release.deploy.run import Run, names
from release.deploy.wait import Probe, health_probe, wait_for
from release.deploy.events import Reporter
from release.errors import ReleaseError
from release.live import LiveContainer
from release.desired import ROLE_HTTP, ROLE_PROXY, ROLE_WORKER, Unit
from release.plan import classify

SWITCH_TIMEOUT = 45.0  # new replicas UP in the proxy's own checks
FORGET_TIMEOUT = 15.0  # the proxy's DNS drops removed replicas


@dataclass
class Engine(CanarySteps):
    platform: Platform
    reporter: Reporter
    health_timeout: float = 120.0
    drain_timeout: float = 30.0
    sleep: Callable[[float], None] = time.sleep  # between polls (tests: no wait)
    proxy_lock: threading.RLock = field(default_factory=threading.RLock)
    # Set when Ctrl-C/SIGTERM reached the main thread while lanes roll in others
    # (signals only interrupt the main thread): each lane aborts at its next step.
    cancelled: threading.Event = field(default_factory=threading.Event)
    _aborting: threading.local = field(default_factory=threading.local)

    def pause(self, seconds: float) -> None:
        """The wait between two polls, and where a cancelled lane stops."""
        self.sleep(seconds)
        self.check_cancelled()

    def check_cancelled(self) -> None:
        # An abort in progress (this thread's) runs to its end: it is the way out.
        if self.cancelled.is_set() and not getattr(self._aborting, "on", False):
            raise KeyboardInterrupt

    def proxy_admin(self) -> ProxyAdmin | None:
        """The platform's proxy admin API, its calls serialized across lanes."""
        with self.proxy_lock:
            admin = self.platform.proxy()
        return None if admin is None else SerializedProxy(admin, self.proxy_lock)

    def step(self, service: str, step: str, message: str) -> None:
        self.reporter.step(service, step, message)

    # -- one service ----------------------------------------------------------------

    def roll(self, unit: Unit, config_hash: str, replicas: int) -> str:
        """Takes the service to `replicas` of `config_hash`; returns a summary, or
        raises StepFailed after aborting (the old containers keep serving)."""
        containers = self.platform.containers(unit.service)
        return self.run(
            unit,
            config_hash,
            S.steps_for(unit.role, unit.service, config_hash, replicas, containers),
        )

    def run(
        self,
        unit: Unit,
        config_hash: str,
        rollout: S.Rollout,
        gate: Callable[[Run], None] | None = None,
    ) -> str:
        """Carries out `rollout`'s steps; `gate` is the judge step's decision (a
        canary's), raising StepFailed to withdraw."""
        p = self.platform
        proxy = self.proxy_admin() if unit.role == ROLE_HTTP else None
        run = Run(unit, config_hash, rollout, proxy, gate=gate)
        try:
            for name in rollout.steps:
                self.check_cancelled()
                getattr(self, name)(run)
        except (StepFailed, ReleaseError, KeyboardInterrupt) as exc:
            culprit = getattr(exc, "container", "")
            detail = p.failure_detail(culprit) if culprit else ""
            self._aborting.on = True
            try:
                for name in rollout.on_failure:
                    getattr(self, name)(run)
            finally:
                self._aborting.on = False
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise StepFailed(f"{exc}" + (f"\n{detail}" if detail else "")) from None
        return self._summary(run)

    def _summary(self, run: Run) -> str:
        if run.unit.role == ROLE_WORKER:
            if not run.rollout.retiring:
                return "started"
            killed = " (killed after grace)" if any(run.codes) else ""
            return f"old worker exit codes {run.codes}{killed}"
        if run.unit.role == ROLE_PROXY:
            return "running" if run.serving else "removed"
        return f"{len(run.serving)} serving"

    # -- the steps, by name (steps.py) -------------------------------------------------

    def clean_up(self, run: Run) -> None:
        for c in run.rollout.garbage:
            self.platform.remove(c.id)
        self.step(
            run.unit.service,
            S.CLEAN_UP,
            f"removed {len(run.rollout.garbage)}: {names(run.rollout.garbage)}",
        )

    def park(self, run: Run) -> None:
        """Empty server slots go to maintenance, so new replicas get no traffic before
        the switch, whatever the proxy's DNS discovery and checks say."""
        if run.proxy is None:
            return
        backend, need = run.unit.service, run.rollout.need
        empty = [s for s in run.proxy.servers(backend) if s.empty]
        if len(empty) < need:
            raise StepFailed(
                f"the proxy has {len(empty)} free server slots in backend "
                f"{backend} for {need} new replicas (server-template in "
                "gitops/proxy/haproxy.cfg)"
            )
        run.proxy.set_state(backend, [s.name for s in empty if not s.forced], "maint")

    def start_new(self, run: Run) -> None:
        started = time.monotonic()
        run.new = self.create_and_start(run.unit.service, run.rollout.need)
        if run.unit.role == ROLE_WORKER:
            message = f"started {names(run.new)}"
        else:
            running = len(run.rollout.keep) + len(run.rollout.retiring)
            message = (
                f"{len(run.new)} new beside {running} running: {names(run.new)} "
                f"in {time.monotonic() - started:.1f}s"
            )
        self.step(run.unit.service, S.START_NEW, message)

    def create_and_start(self, service: str, need: int) -> list[LiveContainer]:
        """Compose creates the new replicas beside the existing containers (its own
        labels, so `docker compose ps` lists them); we start them by ID, at a low CPU
        weight while they warm up, so the replicas serving traffic keep their CPU."""
        p = self.platform
        before = p.containers(service)
        p.create(service, len(before) + need)
        ids = {c.id for c in before}
        new = [c for c in p.containers(service) if c.id not in ids]
        if len(new) != need:
            raise StepFailed(f"Compose created {len(new)} containers, expected {need}")
        for c in new:
            p.set_cpu_shares(c.id, WARMUP_CPU_SHARES)
        p.start([c.id for c in new])
        # Read again: a container gets its address on the network when it starts.
        return [p.inspect(c.id) or c for c in new]

    def wait_healthy(self, run: Run) -> None:
        self.wait_for_health(
            run.unit.service, run.serving, ask_ready=run.unit.role == ROLE_HTTP
        )

    def wait_for_health(
        self, service: str, containers: Sequence, ask_ready: bool = False
    ) -> None:
        """Until Docker reports every one healthy; with `ask_ready` (HTTP replicas),
        one whose own health check passes when run from here counts as healthy
        (wait.health_probe), so the gate does not idle until Docker's first check."""
        if not containers:
            return
        answers = self.platform.checks_healthy_now if ask_ready else None
        n = len(containers)
        self.step(
            service,
            S.WAIT_HEALTHY,
            f"waiting for {n} (timeout {self.health_timeout:.0f}s)",
        )
        took = wait_for(
            f"{service} healthy",
            lambda: health_probe(
                [self.platform.inspect(c.id) for c in containers], answers
            ),
            self.health_timeout,
            sleep=self.pause,
        )
        self.step(service, S.WAIT_HEALTHY, f"{n}/{n} healthy in {took:.1f}s")
        for c in containers:  # idempotent
            self.platform.set_cpu_shares(c.id, DEFAULT_CPU_SHARES)

    def let_in(self, run: Run) -> None:
        """The proxy serves the new replicas (once its own checks see them UP) and
        starts draining the retiring ones."""
        backend, proxy = run.unit.service, run.proxy
        if proxy is None:
            self.step(backend, "switch_traffic", "no proxy running: nothing to switch")
            return
        took, ips, seen = self.admit_to(backend, proxy, run.serving)
        servers = by_addr(seen)  # the old replicas keep their slots meanwhile
        old = [servers[c.ip].name for c in run.rollout.retiring if c.ip in servers]
        proxy.set_state(backend, old, "drain")
        self.step(
            backend,
            "switch_traffic",
            f"{len(ips)} UP in the proxy after {took:.1f}s; draining {len(old)}",
        )

    def admit_to(
        self, backend: str, proxy: ProxyAdmin, containers: Sequence[LiveContainer]
    ) -> tuple[float, set[str], list[Server]]:
        """Releases the held slots of `containers` and waits until the proxy's own
        checks see each UP; returns (seconds, their addresses, the backend's servers
        as last seen: every look is a `docker exec`, so callers reuse it)."""
        seen: list[Server] = []
        fresh = [self.platform.inspect(c.id) for c in containers]
        missing = [c.name for c, f in zip(containers, fresh) if f is None or not f.ip]
        if missing:  # never drain the old ones without knowing where the new ones are
            raise StepFailed(f"no network address for {', '.join(missing)}")
        ips = {f.ip for f in fresh if f}

        def probe() -> Probe:
            seen[:] = proxy.servers(backend)
            servers = by_addr(seen)
            held = [servers[i].name for i in ips if i in servers and servers[i].forced]
            proxy.set_state(backend, held, "ready")
            up = [i for i in ips if i in servers and servers[i].up]
            return Probe(len(up) == len(ips), detail=f"{len(up)}/{len(ips)} UP")

        took = wait_for(
            f"{backend} UP in the proxy", probe, SWITCH_TIMEOUT, sleep=self.pause
        )
        return took, ips, seen

    def drain(self, run: Run) -> None:
        if run.proxy is None or not run.rollout.retiring:
            return
        message = self.drain_out(
            run.unit, run.proxy, run.rollout.retiring, self.drain_timeout
        )
        self.step(run.unit.service, S.DRAIN, message)

    def drain_out(
        self,
        unit: Unit,
        proxy: ProxyAdmin,
        containers: Sequence[LiveContainer],
        timeout: float,
    ) -> str:
        """Until no request is in flight on them (or the timeout: stopping still
        gives them the grace period); then their slots go to maintenance."""
        backend = unit.service
        ips = {c.ip for c in containers if c.ip}
        servers = by_addr(proxy.servers(backend))
        draining = [
            servers[i].name
            for i in ips
            if i in servers and not servers[i].admin_state & ADMIN_FDRAIN
        ]
        proxy.set_state(backend, draining, "drain")  # let_in has drained them already

        seen: list[Server] = list(servers.values())

        def probe() -> Probe:
            seen[:] = proxy.servers(backend)
            busy = sum(s.scur for s in seen if s.addr in ips)
            return Probe(busy == 0, detail=f"{busy} requests in flight")

        try:
            took = wait_for(
                f"{backend} drained", probe, timeout, interval=0.2, sleep=self.pause
            )
            message = f"0 requests in flight on {len(ips)} after {took:.1f}s"
        except StepFailed as exc:
            message = f"{exc}; stopping anyway (grace {unit.stop_grace:.0f}s)"
        servers = by_addr(seen)  # the last look: they keep their slots meanwhile
        proxy.set_state(
            backend, [servers[i].name for i in ips if i in servers], "maint"
        )
        return message

    def retire(self, run: Run) -> None:
        """SIGTERM, the grace period, then removal by ID: side by side, since they
        are out of the proxy already and each gets its own grace period (one after
        another, a roll waited for every old replica's shutdown in turn)."""
        started = time.monotonic()

        def stop_and_remove(c: LiveContainer) -> int:
            code = self.platform.stop(c.id, run.unit.stop_grace)
            self.platform.remove(c.id)
            return code

        retiring = run.rollout.retiring
        with ThreadPoolExecutor(max_workers=max(1, len(retiring))) as pool:
            run.codes.extend(pool.map(stop_and_remove, retiring))
        if run.rollout.retiring:
            self.step(
                run.unit.service,
                "retire_old",
                f"stopped and removed {len(run.rollout.retiring)} "
                f"({names(run.rollout.retiring)}; exit "
                f"{','.join(map(str, run.codes))}) "
                f"in {time.monotonic() - started:.1f}s",
            )

    def release_slots(self, run: Run) -> None:
        self.give_back_slots(run.unit.service, run.proxy, run.rollout.retiring)

    def give_back_slots(
        self,
        backend: str,
        proxy: ProxyAdmin | None,
        gone: Sequence[LiveContainer],
        keep_held: Sequence[LiveContainer] = (),
    ) -> None:
        """Once the proxy has forgotten the removed replicas, every slot we held goes
        back to `ready` (except those of `keep_held`), so later ones are not kept out.
        """
        if proxy is None:
            return
        gone_ips = {c.ip for c in gone if c.ip}
        held_ips = {c.ip for c in keep_held if c.ip}

        seen: list[Server] = []

        def probe() -> Probe:
            seen[:] = proxy.servers(backend)
            left = [s for s in seen if s.addr in gone_ips]
            return Probe(not left, detail=f"{len(left)} removed replicas still known")

        try:
            wait_for(
                f"{backend} forgets removed replicas",
                probe,
                FORGET_TIMEOUT,
                sleep=self.pause,
            )
        except StepFailed:
            pass  # those slots stay in maintenance; the next deploy releases them
        proxy.set_state(
            backend,
            [
                s.name
                for s in seen  # the last look
                if s.forced and s.addr not in gone_ips and s.addr not in held_ips
            ],
            "ready",
        )

    def stop_old(self, run: Run) -> None:
        """A worker: the old one finishes its current job and exits first (two workers
        never share the job table); it is kept, stopped, until the new one is healthy.
        """
        started = time.monotonic()
        run.codes = [
            self.platform.stop(c.id, run.unit.stop_grace) for c in run.rollout.retiring
        ]
        self.step(
            run.unit.service,
            S.STOP_OLD,
            f"stopped {len(run.rollout.retiring)} ({names(run.rollout.retiring)}) "
            f"after their current job: exit {','.join(map(str, run.codes))} "
            f"in {time.monotonic() - started:.1f}s",
        )

    def remove_old(self, run: Run) -> None:
        for c in run.rollout.retiring:
            self.platform.remove(c.id)
        retiring = names(run.rollout.retiring)
        self.step(run.unit.service, "retire_old", f"removed {retiring}")

    def recreate(self, run: Run) -> None:
        """The entry point cannot run twice on one port: replaced in place (a brief
        interruption, said so in the plan)."""
        self.platform.recreate(run.unit.service)
        containers = self.platform.containers(run.unit.service)
        run.new = list(classify(containers, run.config_hash).current)
        if not run.new:
            raise StepFailed("Compose did not start the proxy")

    def abort(self, run: Run) -> None:
        """Removes the containers this attempt started (and unproven ones a killed
        attempt left) by ID; the old ones are put back into service if drained."""
        service = run.unit.service
        initial = run.rollout.initial_ids
        new = [c for c in self.platform.containers(service) if c.id not in initial]
        doomed = {c.id: c for c in [*new, *run.rollout.unproven]}
        for c in doomed.values():
            self.platform.remove(c.id)
        try:
            self.give_back_slots(service, run.proxy, list(doomed.values()))
        except ReleaseError as exc:
            self.step(service, S.ABORT, f"proxy not restored: {exc}")
        self.step(
            service,
            S.ABORT,
            f"removed {len(doomed)} new ({names(list(doomed.values()))}); "
            f"{len(run.rollout.retiring)} old keep serving",
        )

    def restart_old(self, run: Run) -> None:
        self.platform.start([c.id for c in run.rollout.retiring])
        retiring = names(run.rollout.retiring)
        self.step(run.unit.service, S.ABORT, f"restarted the old {retiring}")
