"""Carries out one service's rollout steps (steps.py) through a Platform.

New replicas are created beside the old ones and started by ID at a low CPU weight
while the proxy keeps them out (their server slots are parked in maintenance); once
Docker reports every new one healthy they get their full CPU weight, the proxy lets
them in, waits until its own checks see them UP, then drains the old ones, and only
when they have no request in flight are they stopped (SIGTERM, the service's grace
period) and removed by ID. A failed step aborts: only the new containers go (and
those a killed attempt started that never served), the old ones keep serving. The
gate waits on what has to prove itself (new replicas, a killed attempt's), never on
replicas that already serve. Every effect goes through the platform, so a test can
stop the engine between any two of its calls. The steps that talk to the proxy are in
proxy_steps.py, a canary's in canary_steps.py; the rollout in progress (Run) in
run.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from release.base.errors import LockLost, ReleaseError
from release.engine import steps as S
from release.engine.canary_steps import CanarySteps
from release.engine.events import Reporter
from release.engine.platform import (
    DEFAULT_CPU_SHARES,
    WARMUP_CPU_SHARES,
    FencedPlatform,
    Platform,
    ProxyAdmin,
    SerializedProxy,
)
from release.engine.proxy_steps import ProxySteps
from release.engine.results import StepFailed
from release.engine.run import Run, names
from release.engine.wait import Probe, health_probe, wait_for
from release.model.desired import ROLE_HTTP, ROLE_PROXY, ROLE_WORKER, Unit
from release.model.live import LiveContainer

WORKER_ASK_EVERY = 1.0  # seconds between two runs of a starting worker's own check


@dataclass
class Engine(CanarySteps, ProxySteps):
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
    # The deploy lock's fencing check (raises LockLost once another deploy holds
    # it): run before each step and before each call that changes the host.
    fence: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        if self.fence is not None:
            self.platform = FencedPlatform(self.platform, self.fence)

    @property
    def acted(self) -> bool:
        """Whether this engine changed anything on the host (as far as fenced)."""
        return isinstance(self.platform, FencedPlatform) and self.platform.acted

    def check_fence(self) -> None:
        if self.fence is not None:
            self.fence()

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
        serving = (
            self.serving_addresses(unit.service) if unit.role == ROLE_HTTP else None
        )
        return self.run(
            unit,
            config_hash,
            S.steps_for(
                unit.role, unit.service, config_hash, replicas, containers, serving
            ),
        )

    def serving_addresses(self, service: str) -> frozenset[str] | None:
        """The addresses the proxy sends the service's traffic to (draining ones
        included, parked ones not); None when no proxy runs."""
        proxy = self.proxy_admin()
        if proxy is None:
            return None
        return frozenset(
            s.addr for s in proxy.servers(service) if s.addr and not s.parked
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
                self.check_fence()
                getattr(self, name)(run)
        except LockLost:
            raise  # another deploy owns the host now: no abort, nothing touched
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

    def start_new(self, run: Run) -> None:
        started = time.monotonic()
        run.new = self.create_new_ones(run.unit.service, run.rollout.need)
        run.new = self.start_them(run.new)
        if run.unit.role == ROLE_WORKER:
            message = f"started {names(run.new)}"
        else:
            running = len(run.rollout.keep) + len(run.rollout.retiring)
            message = (
                f"{len(run.new)} new beside {running} running: {names(run.new)} "
                f"in {time.monotonic() - started:.1f}s"
            )
        self.step(run.unit.service, S.START_NEW, message)

    def create_new_ones(
        self, service: str, need: int, warmup: bool = True
    ) -> list[LiveContainer]:
        """Compose creates the new replicas beside the existing containers (its own
        labels, so `docker compose ps` lists them), not started; at a low CPU weight
        while they will warm up, so the replicas serving traffic keep their CPU."""
        p = self.platform
        before = p.containers(service)
        p.create(service, len(before) + need)
        ids = {c.id for c in before}
        new = [c for c in p.containers(service) if c.id not in ids]
        if len(new) != need:
            raise StepFailed(f"Compose created {len(new)} containers, expected {need}")
        for c in new if warmup else ():
            p.set_cpu_shares(c.id, WARMUP_CPU_SHARES)
        return new

    def start_them(self, created: Sequence[LiveContainer]) -> list[LiveContainer]:
        """Started by ID, together; read again, since a container gets its address
        on the network when it starts."""
        p = self.platform
        p.start([c.id for c in created])
        return [p.inspect(c.id) or c for c in created]

    def create_new(self, run: Run) -> None:
        """The proxy: its successor is created (the image at hand) while the old one
        still serves; the entry point must not wait on CPU: full weight."""
        run.new = self.create_new_ones(run.unit.service, run.rollout.need, False)
        self.step(run.unit.service, S.CREATE_NEW, f"created {names(run.new)}")

    def start_created(self, run: Run) -> None:
        started = time.monotonic()
        run.new = self.start_them(run.new)
        self.step(
            run.unit.service,
            S.START_CREATED,
            f"started {names(run.new)} in {time.monotonic() - started:.1f}s",
        )

    def wait_healthy(self, run: Run) -> None:
        self.wait_for_health(
            run.unit.service, run.to_prove, http=run.unit.role == ROLE_HTTP
        )

    def wait_for_health(
        self, service: str, containers: Sequence, http: bool = False
    ) -> None:
        """Until Docker reports every one healthy, or until each passes its own
        health check run from here (wait.health_probe), so the gate does not idle
        until Docker's first check, one interval (5 s) after the start. An HTTP
        replica is asked once its readiness endpoint answers; a worker, which has
        none, at most once a second (each ask is an exec of its check)."""
        if not containers:
            return
        n = len(containers)
        self.step(
            service,
            S.WAIT_HEALTHY,
            f"waiting for {n} (timeout {self.health_timeout:.0f}s)",
        )
        answers = self.platform.checks_healthy_now
        asked: dict[str, float] = {}

        def passes_now(c: LiveContainer) -> bool:
            if not http:
                now = time.monotonic()
                if now - asked.get(c.id, -WORKER_ASK_EVERY) < WORKER_ASK_EVERY:
                    return False
                asked[c.id] = now
            return answers(c, http=http)

        said_slow: set[str] = set()

        def probe() -> Probe:
            result = health_probe(
                [self.platform.inspect(c.id) for c in containers], passes_now
            )
            if set(result.slow) - said_slow:
                said_slow.update(result.slow)
                self.step(
                    service,
                    S.WAIT_HEALTHY,
                    f"health checks of {', '.join(result.slow)} time out"
                    f"{self.load_note()}: not a verdict, asked again until the "
                    "deadline",
                )
            return result

        try:
            took = wait_for(
                f"{service} healthy", probe, self.health_timeout, sleep=self.pause
            )
        except StepFailed as exc:
            note = self.load_note() if "not done after" in str(exc) else ""
            raise StepFailed(f"{exc}{note}", exc.container) from None
        self.step(service, S.WAIT_HEALTHY, f"{n}/{n} healthy in {took:.1f}s")
        for c in containers:  # idempotent
            self.platform.set_cpu_shares(c.id, DEFAULT_CPU_SHARES)

    def load_note(self) -> str:
        """(host loaded: ...) when the engine's machine is busy, else ""."""
        load = self.platform.load()
        return f" (host loaded: {load})" if load else ""

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

    def stop_old(self, run: Run) -> None:
        """A worker: the old one finishes its current job and exits first (two workers
        never share the job table). The proxy: the old one frees the published port.
        Either is kept, stopped, until the new one is healthy.
        """
        started = time.monotonic()
        run.codes = [
            self.platform.stop(c.id, run.unit.stop_grace) for c in run.rollout.retiring
        ]
        why = " after their current job" if run.unit.role == ROLE_WORKER else ""
        self.step(
            run.unit.service,
            S.STOP_OLD,
            f"stopped {len(run.rollout.retiring)} ({names(run.rollout.retiring)})"
            f"{why}: exit {','.join(map(str, run.codes))} "
            f"in {time.monotonic() - started:.1f}s",
        )

    def remove_old(self, run: Run) -> None:
        for c in run.rollout.retiring:
            self.platform.remove(c.id)
        retiring = names(run.rollout.retiring)
        self.step(run.unit.service, "retire_old", f"removed {retiring}")

    def abort(self, run: Run) -> None:
        """Removes the containers this attempt started (and those a killed attempt
        started that never served) by ID; the old ones are put back into service if
        drained. A replica that served before the deploy is never removed here."""
        service = run.unit.service
        initial = run.rollout.initial_ids
        new = [c for c in self.platform.containers(service) if c.id not in initial]
        doomed = {c.id: c for c in [*new, *run.rollout.unproven]}
        kept = [c for c in run.rollout.keep if c.id not in doomed]
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
            f"{len(run.rollout.retiring) + len(kept)} old keep serving",
        )

    def restart_old(self, run: Run) -> None:
        """The old worker or proxy, stopped for the new one, starts again."""
        self.platform.start([c.id for c in run.rollout.retiring])
        retiring = names(run.rollout.retiring)
        self.step(run.unit.service, S.ABORT, f"restarted the old {retiring}")
