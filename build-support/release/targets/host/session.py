"""The setup and teardown every deploy shares: environment checks, the engine, the
deploy lock, the live snapshot, desired state and plan, the deploy log.

    with DeploySession(target, access, services=("waste",), gitops=GITOPS) as s:
        s.plan ...  s.engine() ...  s.log({...})

Used by `./inv deploy` (targets/host/rollout.py), the canary (canary/rollout.py),
drift (targets/host/observe.py) and so the agent, which does both. Leaving the block
releases the lock whatever happened.

Two halves: `check()` reads the inputs (manifest, units, the services asked for) and
refuses bad ones before the host is touched; the rest drives the host through the
HostAccess it is given (engine/access.py, wired in cli/wiring.py). Signals are the
CLI's (cli/handler.py turns SIGTERM into Ctrl-C): the session only cleans up.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from release.base.errors import LockError, LockLost, ReleaseError, UsageError
from release.base.layout import GitopsTree, check_env, project_name
from release.engine import deploy_log
from release.gitops.secrets import ensure_keys
from release.engine.access import HostAccess
from release.engine.apply import apply
from release.engine.engine import Engine
from release.engine.events import Reporter
from release.engine.platform import Platform
from release.engine.results import DeployResult
from release.model.desired import ROLE_PROXY, ROLE_WORKER, Desired, Unit
from release.model.manifest import Manifest, load
from release.plan.plan import Plan, make_plan, select
from release.targets.resolve import read_units, resolve


@dataclass(frozen=True)
class ProjectOnHost:
    """Where a deploy goes: one environment's Compose project on one Docker host."""

    env: str
    project: str = ""  # default: ecotrack-<env>
    host: str = ""  # default: DOCKER_HOST, else the local engine
    proxy_port: int | None = None
    proxy_bind: str | None = None
    # Other proxy ports to publish: (("PROXY_TLS_PORT", 8443), ...).
    proxy_ports: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(
        cls,
        access: HostAccess,
        env: str,
        project: str = "",
        host: str | None = None,
        **kw,
    ):
        """The one place the Compose project name and the Docker host default."""
        return cls(env, project_name(env, project), access.endpoint(host), **kw)

    @property
    def where(self) -> str:
        return self.host or "local"


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def take_lock(
    access: HostAccess, client, project: str, env: str, text: str, reporter, refused
):
    """The environment's deploy lock on `client`'s engine, for every kind of target:
    a lease renewed until release; an expired one is taken over with a note (a live
    one too with --force, with a warning); a held one is refused (`refused(why)`
    logs it) with LockError (exit 4)."""
    try:
        return access.acquire_lock(client, project, env, text, reporter.note)
    except LockError as exc:
        refused(str(exc))
        raise


def _what_it_did(engine: Engine) -> str:
    if not engine.acted:
        return "nothing changed by this run"
    return "this run stopped before its next change (the new holder's deploy converges)"


@dataclass
class DeploySession:
    target: ProjectOnHost
    access: HostAccess
    manifest: Manifest | None = None  # default: gitops/versions/<env>.json
    services: tuple[str, ...] = ()  # default: every unit
    reporter: Reporter = field(default_factory=Reporter)
    locked: bool = True  # hold the environment's deploy lock (not for a dry run)
    lock_label: str = ""  # what kind of deploy the lock names ("canary")
    gitops: GitopsTree = field(kw_only=True)  # the repo's, or the agent's clone's
    client: object = None  # a docker SDK client to reuse (the agent keeps one)
    quiet: bool = False  # only looking (drift): no notes on the terminal
    # The deploy lock's fencing check the engine runs before it acts: this
    # session's own lock's once taken; a fleet's other hosts get the first's.
    fence: Callable[[], None] | None = None

    # filled in on entry
    units: tuple[Unit, ...] = ()
    chosen: tuple[Unit, ...] = ()
    desired: dict[str, Desired] = field(default_factory=dict)
    plan: Plan | None = None
    started_at: str = ""
    # Set by cancel() from the main thread: a roll in another thread aborts.
    cancelled: threading.Event = field(default_factory=threading.Event)

    def check(self) -> None:
        """Everything that can be refused before touching the host (once)."""
        if self.units:
            return
        env = check_env(self.target.env)
        if self.manifest is None:
            self.manifest = load(self.gitops.manifest(env), env)
        if self.manifest.environment != env:
            raise UsageError(
                f"the manifest is for '{self.manifest.environment}', not for '{env}'"
            )
        if not self.manifest.services and not self.quiet:
            self.reporter.note(
                f"the {env} manifest names no services yet (./inv publish records them)"
            )
        self.units = read_units(env, self.gitops)
        self.chosen = select(self.units, self.services)
        known = {u.service for u in self.units} | {u.entry for u in self.units}
        unknown = sorted(set(self.services) - known)
        if unknown:
            raise UsageError(
                f"unknown service {', '.join(unknown)} (known: "
                f"{', '.join(sorted({u.service for u in self.units}))})"
            )

    def __enter__(self) -> "DeploySession":
        self.check()
        if self.client is None:
            self.client = self.access.connect(self.target.host)
        self.started_at = now()
        self._held = None
        if self.locked:
            self._held = self._lock()
            if self.fence is None:
                held = self._held
                self.fence = lambda: self.access.check_lock(self.client, held)
        self._tmp = tempfile.TemporaryDirectory(prefix="ecotrack-deploy-")
        try:
            self._resolve()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _lock(self):
        return take_lock(
            self.access,
            self.client,
            self.target.project,
            self.target.env,
            self._lock_description(),
            self.reporter,
            refused=lambda why: self.log({"result": "refused", "reason": why}),
        )

    def _lock_description(self) -> str:
        entries = self.manifest.services
        versions = ", ".join(
            f"{u.entry} {entries[u.entry].version}"
            for u in self.chosen
            if u.entry in entries and u.role != ROLE_WORKER
        )
        return " ".join(x for x in (self.lock_label, versions or "nothing") if x)

    def _resolve(self) -> None:
        t = self.target
        self.state = self.access.snapshot(self.client, t.project)
        self.compose, self.desired = resolve(
            self.access,
            t.env,
            t.project,
            self.manifest,
            self.units,
            self.state,
            Path(self._tmp.name),
            t.host,
            t.proxy_port,
            t.proxy_bind,
            gitops=self.gitops,
            proxy_ports=dict(t.proxy_ports),
        )
        self.plan = make_plan(t.env, t.project, self.chosen, self.desired, self.state)

    def __exit__(self, *exc) -> None:
        if getattr(self, "_held", None) is not None:
            self.access.release_lock(self.client, self._held)
            self._held = None
        if getattr(self, "_tmp", None) is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def units_by_service(self) -> dict[str, Unit]:
        return {u.service: u for u in self.units}

    def platform(self) -> Platform:
        proxies = [u.service for u in self.units if u.role == ROLE_PROXY]
        return self.access.platform(
            self.client,
            self.compose,
            self.target.where,
            proxies[0] if proxies else None,
            {  # the plan's verdicts on unhealthy ones: not asked again
                c.id: c.answers for c in self.state.containers if c.answers is not None
            },
        )

    def engine(self, health_timeout: float, drain_timeout: float = 30.0) -> Engine:
        # Only a deploy that acts writes the keys (a dry run changes nothing); the
        # services read them at start, so the running ones keep theirs until rolled.
        if any(u.key_files and u.entry in self.manifest.services for u in self.units):
            self.access.install_keys(
                self.client, self.target.project, ensure_keys(self.target.project)
            )
        return Engine(
            self.platform(),
            self.reporter,
            health_timeout,
            drain_timeout,
            cancelled=self.cancelled,
            fence=self.fence,
        )

    def roll(
        self,
        result: DeployResult,
        health_timeout: float,
        drain_timeout: float,
        lanes: int,
        started: float | None = None,
        **log_fields,
    ) -> None:
        """Carries out the plan through the engine, fills `result` (outcomes, error,
        duration from `started`) and writes its deploy-log line. Never raises for a
        failed service: the engine rolled it back, `result.ok` says so. Ctrl-C or
        SIGTERM ends with result.error "interrupted" after the engine's rollback.
        Raises LockLost when another deploy took the lock over: this one stops
        before its next change and writes nothing more on the host."""
        started = time.monotonic() if started is None else started
        engine = self.engine(health_timeout, drain_timeout)
        try:
            result.outcomes = apply(
                engine, self.plan, self.units_by_service, self.desired, lanes
            )
        except LockLost as exc:
            raise LockLost(f"{exc}; {_what_it_did(engine)}") from None
        except KeyboardInterrupt:
            result.error = "interrupted"
        except ReleaseError as exc:
            result.error = str(exc)
        result.duration = time.monotonic() - started
        failed = [o for o in result.outcomes if o.result == "failed"]
        self.log(
            {
                "result": "ok" if result.ok else "failed",
                **log_fields,
                "reason": result.error
                or (f"{failed[0].service}: {failed[0].detail}" if failed else ""),
                "duration_s": round(result.duration, 2),
                "services": [o.to_dict() for o in result.outcomes],
            }
        )

    def cancel(self) -> None:
        """Aborts a `roll` running in another thread at its next step (its services
        rolled back by the engine); the roll then ends "interrupted"."""
        self.cancelled.set()

    def log(self, entry: dict) -> None:
        """One entry in the deploy log, kept on the host (and on this machine), with
        who, where, when, what and the manifest's commit filled in."""
        t = self.target
        deploy_log.record(
            self.access,
            self.client,
            t.project,
            {
                "at": self.started_at or now(),
                "env": t.env,
                "project": t.project,
                "host": t.where,
                "by": self.access.who(),
                "releases": deploy_log.releases(
                    self.manifest, [u.entry for u in self.chosen]
                ),
                **deploy_log.provenance(
                    self.access, self.gitops.manifest(t.env), self.manifest
                ),
                **entry,
            },
            note=self.reporter.note,
        )
