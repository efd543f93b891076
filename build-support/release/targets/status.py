"""`./inv status`'s answer: per host and service what runs (version, digest,
replicas ready of desired) and whether it drifted, per host the deploy lock and the
last deploy.

Nothing is looked at twice or anew: what runs and the drift come from the target's
one look (Target.observe, the rules verify/drift.py's, exactly as `./inv drift`
sees them); the lock and the last deploy from the same engines, through the same
clients (HostAccess.lock_holder, targets/audit.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from release.base import exit_codes
from release.engine.access import HostAccess
from release.model.live import LiveState
from release.model.manifest import Manifest
from release.targets import audit
from release.targets.target import Look, Place, Target
from release.verify.drift import UNKNOWN, DriftReport

READY_HEALTH = ("healthy", "none")  # "none": no health check, running is ready


@dataclass(frozen=True)
class ServiceRow:
    service: str
    version: str  # what runs ("a+b" while two run side by side)
    desired_version: str
    digest: str
    desired_digest: str
    ready: int  # running and healthy (or without a health check)
    running: int
    desired: int  # the manifest's replicas (0: the manifest does not name it)
    sync: str  # IN_SYNC | OUT_OF_SYNC | UNKNOWN (not in the manifest)
    health: str
    findings: int
    kinds: tuple[str, ...]

    @property
    def is_ready(self) -> bool:
        return self.sync == UNKNOWN or self.ready >= self.desired

    def to_dict(self) -> dict:
        return {
            "service": self.service,
            "version": self.version,
            "desired_version": self.desired_version,
            "digest": self.digest,
            "desired_digest": self.desired_digest,
            "ready": self.ready,
            "running": self.running,
            "desired": self.desired,
            "sync": self.sync,
            "health": self.health,
            "findings": self.findings,
            "kinds": list(self.kinds),
        }


@dataclass(frozen=True)
class HostStatus:
    place: Place
    services: tuple[ServiceRow, ...]
    findings: int
    deployed: bool  # any container (or Swarm task) of the project there
    lock: dict | None  # the holder (LockInfo.to_dict + description), None: free
    last_deploy: dict | None  # the newest deploy-log entry, None: none kept
    log_error: str = ""  # why the deploy log could not be read

    @property
    def in_sync(self) -> bool:
        return self.findings == 0

    @property
    def ready(self) -> bool:
        return all(s.is_ready for s in self.services)

    def to_dict(self) -> dict:
        return {
            "name": self.place.name,
            "endpoint": self.place.endpoint,
            "deployed": self.deployed,
            "in_sync": self.in_sync,
            "ready": self.ready,
            "findings": self.findings,
            "lock": self.lock,
            "last_deploy": self.last_deploy,
            "log_error": self.log_error,
            "services": [s.to_dict() for s in self.services],
        }


@dataclass(frozen=True)
class StatusReport:
    environment: str
    project: str
    target: str  # the target's kind, for output
    hosts: tuple[HostStatus, ...]

    @property
    def deployed(self) -> bool:
        return any(h.deployed for h in self.hosts)

    @property
    def in_sync(self) -> bool:
        return all(h.in_sync for h in self.hosts)

    @property
    def ready(self) -> bool:
        return all(h.ready for h in self.hosts)

    @property
    def exit_code(self) -> int:
        """5 nothing of the project runs anywhere; 3 drifted or not ready; else 0.
        A held lock is reported, not an exit code: status needs no lock."""
        if not self.deployed:
            return exit_codes.NOT_RUNNING
        if not (self.in_sync and self.ready):
            return exit_codes.DIFFERS
        return exit_codes.OK

    def to_dict(self) -> dict:
        return {
            "environment": self.environment,
            "project": self.project,
            "target": self.target,
            "deployed": self.deployed,
            "in_sync": self.in_sync,
            "ready": self.ready,
            "exit_code": self.exit_code,
            "hosts": [h.to_dict() for h in self.hosts],
        }


def service_rows(report: DriftReport, state: LiveState) -> tuple[ServiceRow, ...]:
    """The drift report's services with their ready replicas (pure)."""
    rows = []
    for s in report.services:
        running = [c for c in state.for_service(s.service) if c.state == "running"]
        rows.append(
            ServiceRow(
                service=s.service,
                version=s.version,
                desired_version=s.desired_version,
                digest=s.digest,
                desired_digest=s.desired_digest,
                ready=sum(c.health in READY_HEALTH for c in running),
                running=len(running),
                desired=s.desired_replicas,
                sync=s.sync,
                health=s.health,
                findings=len(report.for_service(s.service)),
                kinds=s.kinds,
            )
        )
    return tuple(rows)


def last_deploy(entry: dict | None) -> dict | None:
    """The fields of a deploy-log entry status shows (the whole one: ./inv audit)."""
    if entry is None:
        return None
    keys = ("id", "at", "by", "result", "reason", "commit", "log_host", "kept")
    return {k: entry.get(k, "") for k in keys}


def lock_of(info) -> dict | None:
    if info is None:
        return None
    return {**info.to_dict(), "description": info.describe()}


class Clients:
    """One client per engine for the whole command: the look and the lock and
    log reads share it (keyed the way HostAccess.endpoint defaults a host)."""

    def __init__(self, access: HostAccess):
        self.access = access
        self._open: dict[str, object] = {}

    def __call__(self, endpoint: str):
        key = self.access.endpoint(endpoint or None)
        if key not in self._open:
            self._open[key] = self.access.connect(key)
        return self._open[key]


def host_status(
    access: HostAccess, client, place: Place, project: str, observation
) -> HostStatus:
    log = audit.host_log(access, client, place, project)
    state = observation.state
    return HostStatus(
        place=place,
        services=service_rows(observation.report, state),
        findings=len(observation.report.findings),
        deployed=bool(state.containers),
        lock=lock_of(access.lock_holder(client, project)),
        last_deploy=last_deploy(log.entries[0] if log.entries else None),
        log_error=log.error,
    )


def status(
    target: Target, *, project: str = "", manifest: Manifest | None = None
) -> StatusReport:
    """One look at the target (`manifest`: default, the environment's), then
    each engine's lock and deploy log through the look's own clients."""
    clients = Clients(target.access)
    looked = target.observe(
        Look(project=project, manifest=manifest, client_for=clients)
    )
    name = looked.report.project
    hosts = [
        host_status(target.access, clients(place.endpoint), place, name, observation)
        for place, observation in target.looks_per_host(looked)
    ]
    return StatusReport(target.env, name, target.kind, tuple(hosts))
