"""Drift: where the Docker host differs from what the manifest says should run.

Pure: the desired state of each Compose service (desired.Desired, with the hash of its
resolved Compose configuration), the live snapshot of the project (live.LiveState)
and the containers found outside the project that look like ours (`foreign`: on the
project's network without its labels, or started by hand from a service's image) go
in; a list of findings comes out, one per thing that differs, by kind:

    image             a container runs another image digest than the manifest's
    missing_replicas  fewer running containers than the manifest's replicas
    extra_replicas    more running containers than that
    unmanaged         a container not created by the Compose project (no project
                      labels): started by hand, or by another tool, from the image
    config            the Compose configuration changed (config hash label differs)
    flags             the FEATURE_* environment differs from the manifest's flags
    environment       the host's secrets (token keys, env file) changed since it was
                      created (fingerprint label differs; values are never read)
    stopped           a container of the service is not running
    unhealthy         Docker's health check fails

A service with no finding is IN_SYNC, one with any is OUT_OF_SYNC; health is the
separate question (plan.health_of). Services the manifest does not name are
reported as UNKNOWN: not ours to judge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from release.base import exit_codes
from release.model.desired import Desired, Unit, unit_order
from release.model.live import LiveContainer, LiveState
from release.plan.plan import IN_SYNC, OUT_OF_SYNC, health_of

UNKNOWN = "UNKNOWN"

IMAGE = "image"
MISSING = "missing_replicas"
EXTRA = "extra_replicas"
UNMANAGED = "unmanaged"
CONFIG = "config"
FLAGS = "flags"
ENVIRONMENT = "environment"
STOPPED = "stopped"
UNHEALTHY = "unhealthy"

KINDS = (
    IMAGE,
    MISSING,
    EXTRA,
    UNMANAGED,
    CONFIG,
    FLAGS,
    ENVIRONMENT,
    STOPPED,
    UNHEALTHY,
)

# What the rollout engine repairs by redeploying the manifest (self-heal). An
# unmanaged container is not ours: it is reported, never removed automatically.
REPAIRABLE = frozenset(KINDS) - {UNMANAGED}


@dataclass(frozen=True)
class Finding:
    service: str
    kind: str
    container: str = ""  # container name, "" for a service-level finding
    expected: str = ""
    actual: str = ""
    host: str = ""  # the fleet host it was found on ("" for a single-host report)

    def describe(self) -> str:
        where = f"{self.service}" + (f" ({self.container})" if self.container else "")
        if self.host:
            where = f"{self.host}: {where}"
        return f"{where}: {self.kind}: expected {self.expected}, found {self.actual}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ServiceStatus:
    service: str
    sync: str  # IN_SYNC | OUT_OF_SYNC | UNKNOWN
    health: str  # HEALTHY | PROGRESSING | DEGRADED | MISSING | UNKNOWN
    version: str = ""  # what runs (live), "" when nothing does
    desired_version: str = ""
    digest: str = ""  # live digest(s)
    desired_digest: str = ""
    replicas: int = 0  # running
    desired_replicas: int = 0
    kinds: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        d = asdict(self)
        d["kinds"] = list(self.kinds)
        return d


@dataclass(frozen=True)
class DriftReport:
    environment: str
    project: str
    findings: tuple[Finding, ...]
    services: tuple[ServiceStatus, ...]

    @property
    def in_sync(self) -> bool:
        return not self.findings

    @property
    def exit_code(self) -> int:
        return exit_codes.OK if self.in_sync else exit_codes.DIFFERS

    def for_service(self, service: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.service == service)

    def fingerprint(self) -> str:
        """Identifies this set of differences (to notify once per new drift)."""
        return "|".join(
            sorted(
                (f"{f.host}/" if f.host else "")
                + f"{f.service}:{f.kind}:{f.expected}:{f.actual}"
                for f in self.findings
            )
        )

    def to_dict(self) -> dict:
        return {
            "environment": self.environment,
            "project": self.project,
            "in_sync": self.in_sync,
            "findings": [f.to_dict() for f in self.findings],
            "services": [s.to_dict() for s in self.services],
        }


def short_digest(digest: str) -> str:
    return digest.split(":", 1)[-1][:12] if digest else "none"


def _flags_text(flags: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(flags.items())) or "(none)"


def repository(reference: str) -> str:
    """`127.0.0.1:5000/ecotrack/waste:tag@sha256:...` → `127.0.0.1:5000/ecotrack/waste`
    (registry and path, without tag or digest)."""
    ref = reference.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        ref = ref[: len(ref) - len(last) + last.index(":")]
    return ref


def container_findings(d: Desired, c: LiveContainer) -> list[Finding]:
    """What differs about one container of the service (running or not)."""
    if c.state != "running":
        return [Finding(d.service, STOPPED, c.name, "running", _state(c))]
    out = []
    if c.digest != d.digest:
        out.append(
            Finding(
                d.service,
                IMAGE,
                c.name,
                f"{d.version} {short_digest(d.digest)}",
                f"{c.version or '?'} {short_digest(c.digest)}",
            )
        )
    if dict(c.flags) != dict(d.flags):
        out.append(
            Finding(
                d.service, FLAGS, c.name, _flags_text(d.flags), _flags_text(c.flags)
            )
        )
    if d.secrets_hash and c.secrets_hash != d.secrets_hash:
        out.append(
            Finding(
                d.service,
                ENVIRONMENT,
                c.name,
                f"secrets {d.secrets_hash[:8]}",
                f"secrets {c.secrets_hash[:8] or 'unknown'}",
            )
        )
    # The config hash covers image and flags too: report it only when nothing more
    # specific explains the difference.
    if not out and d.config_hash and c.config_hash != d.config_hash:
        out.append(
            Finding(
                d.service,
                CONFIG,
                c.name,
                f"config {d.config_hash[:12]}",
                f"config {c.config_hash[:12] or 'unlabelled'}",
            )
        )
    if c.health == "unhealthy":
        out.append(Finding(d.service, UNHEALTHY, c.name, "healthy", "unhealthy"))
    return out


def _state(c: LiveContainer) -> str:
    return f"{c.state} (exit {c.exit_code})" if c.state == "exited" else c.state


def replica_findings(d: Desired, containers: Sequence[LiveContainer]) -> list[Finding]:
    running = sum(c.state == "running" for c in containers)
    if running < d.replicas:
        return [Finding(d.service, MISSING, "", f"{d.replicas}", f"{running} running")]
    if running > d.replicas:
        return [Finding(d.service, EXTRA, "", f"{d.replicas}", f"{running} running")]
    return []


def attribute(c: LiveContainer, desired: Mapping[str, Desired]) -> str:
    """Which service a container outside the project belongs to: its Compose service
    label, else the service whose image digest it runs, else whose repository."""
    if c.service in desired:
        return c.service
    ranked = sorted(desired.values(), key=lambda d: (d.role != "http", d.service))
    for d in ranked:
        if c.digest and c.digest == d.digest:
            return d.service
    for d in ranked:
        if repository(c.image) == repository(d.image):
            return d.service
    return c.service or "?"


def looks_ours(
    c: LiveContainer, on_project_network: bool, desired: Mapping[str, Desired]
) -> bool:
    """Whether a container outside the project matters to it: it sits on the
    project's network (the proxy's DNS may send it traffic), or it runs one of the
    manifest's images (digest, or the same registry repository)."""
    if on_project_network:
        return True
    return any(
        (c.digest and c.digest == d.digest)
        or repository(c.image) == repository(d.image)
        for d in desired.values()
    )


def unmanaged_findings(
    foreign: Iterable[LiveContainer], desired: Mapping[str, Desired], project: str
) -> list[Finding]:
    out = []
    for c in foreign:
        if c.state != "running":
            continue
        out.append(
            Finding(
                attribute(c, desired),
                UNMANAGED,
                c.name,
                f"only containers of Compose project {project}",
                f"{c.image} ({c.short_id}), not in the project",
            )
        )
    return out


def _joined(values: Iterable[str]) -> str:
    return "+".join(sorted({v for v in values if v}))


def detect(
    environment: str,
    project: str,
    desired: Mapping[str, Desired],
    live: LiveState,
    foreign: Sequence[LiveContainer] = (),
    units: Sequence[Unit] = (),
) -> DriftReport:
    """Every difference between `desired` and the host, and each service's status.

    `units` (the Compose topology) only adds the services the manifest does not
    name, as UNKNOWN, so that a report lists everything that runs.
    """
    findings: list[Finding] = []
    statuses: dict[str, ServiceStatus] = {}
    for name, d in desired.items():
        containers = live.for_service(name)
        found = [f for c in containers for f in container_findings(d, c)]
        found += replica_findings(d, containers)
        findings += found
        running = [c for c in containers if c.state == "running"]
        statuses[name] = ServiceStatus(
            service=name,
            sync=OUT_OF_SYNC if found else IN_SYNC,
            health=health_of(containers, d.replicas),
            version=_joined(c.version for c in running),
            desired_version=d.version,
            digest=_joined(c.digest for c in running),
            desired_digest=d.digest,
            replicas=len(running),
            desired_replicas=d.replicas,
        )
    strays = unmanaged_findings(foreign, desired, project)
    findings += strays
    for f in strays:
        if f.service in statuses:
            s = statuses[f.service]
            statuses[f.service] = ServiceStatus(**{**asdict(s), "sync": OUT_OF_SYNC})
    for u in units:
        if u.service not in statuses:
            containers = live.for_service(u.service)
            running = [c for c in containers if c.state == "running"]
            statuses[u.service] = ServiceStatus(
                service=u.service,
                sync=UNKNOWN,
                health=health_of(containers, len(running)) if running else UNKNOWN,
                version=_joined(c.version for c in running),
                digest=_joined(c.digest for c in running),
                replicas=len(running),
            )
    order = {u.service: unit_order(u) for u in units}
    kind_rank = {k: i for i, k in enumerate(KINDS)}
    findings.sort(
        key=lambda f: (
            order.get(f.service, (True, f.service)),
            f.service,
            kind_rank[f.kind],
            f.container,
        )
    )
    rows = []
    for name in sorted(statuses, key=lambda n: (order.get(n, (True, n)), n)):
        s = statuses[name]
        kinds = tuple(dict.fromkeys(f.kind for f in findings if f.service == name))
        rows.append(ServiceStatus(**{**asdict(s), "kinds": kinds}))
    return DriftReport(environment, project, tuple(findings), tuple(rows))


def repairable(report: DriftReport) -> list[str]:
    """The services a redeploy of the manifest would bring back in line."""
    return sorted({f.service for f in report.findings if f.kind in REPAIRABLE})
