"""What runs on a Swarm (pure): the stack's services and their tasks, as the docker
API describes them, turned into the same LiveState the Compose path plans and
detects drift from, plus each service's rolling-update state.

A task is one replica. Swarm reports a task `running` only once its container's
healthcheck passes (`starting` until then), so running means healthy here. Only
tasks Swarm wants running are read: during an update, the ones it is shutting down
are the past.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace

from release.model.desired import Desired
from release.model.live import (
    LABEL_CONFIG_HASH,
    LABEL_SECRETS_HASH,
    LABEL_VERSION,
    LiveContainer,
    LiveState,
    _flags,
    digest_of,
)
from release.plan.plan import OUT_OF_SYNC
from release.verify.drift import DriftReport, Finding, ServiceStatus

UPDATE = "update"  # a drift kind of Swarm's own: an update paused or rolled back
DONE = "completed"
ROLLED_BACK = "rollback_completed"
# UpdateStatus.State values that end an update other than by completing it
FAILED_STATES = ("paused", "rollback_started", "rollback_paused", ROLLED_BACK)
_STARTING = ("new", "pending", "assigned", "accepted", "preparing", "ready")


@dataclass(frozen=True)
class UpdateState:
    state: str  # updating | completed | paused | rollback_started | ...
    message: str = ""
    started_at: str = ""


@dataclass(frozen=True)
class SwarmService:
    service: str  # the Compose service name (without the stack prefix)
    name: str  # Swarm's name: <stack>_<service>
    id: str
    replicas: int
    update: UpdateState | None = None


@dataclass(frozen=True)
class SwarmState:
    stack: str
    services: Mapping[str, SwarmService]
    live: LiveState


def service_name(stack: str, full: str) -> str:
    prefix = f"{stack}_"
    return full[len(prefix) :] if full.startswith(prefix) else full


def parse_update(attrs: Mapping) -> UpdateState | None:
    u = attrs.get("UpdateStatus")
    if not u:
        return None
    return UpdateState(u.get("State", ""), u.get("Message", ""), u.get("StartedAt", ""))


def parse_task(service: str, attrs: Mapping) -> LiveContainer:
    spec = (attrs.get("Spec") or {}).get("ContainerSpec") or {}
    labels = spec.get("Labels") or {}
    status = attrs.get("Status") or {}
    state = status.get("State", "unknown")
    image = spec.get("Image", "")
    if state == "running":
        live_state, health = "running", "healthy"
    elif state == "starting":
        live_state, health = "running", "starting"
    elif state in _STARTING:
        live_state, health = "created", "starting"
    else:  # failed, rejected, shutdown, complete, orphaned, remove
        live_state, health = "exited", "none"
    container = (status.get("ContainerStatus") or {}).get("ContainerID", "")
    ips = [
        a.split("/", 1)[0]
        for n in attrs.get("NetworksAttachments") or []
        for a in n.get("Addresses") or []
    ]
    return LiveContainer(
        id=container or attrs.get("ID", ""),
        name=f"{service}.{attrs.get('Slot', 0)}.{attrs.get('ID', '')[:12]}",
        service=service,
        number=int(attrs.get("Slot", 0) or 0),
        state=live_state,
        health=health,
        image=image,
        digest=digest_of(image, []),
        version=labels.get(LABEL_VERSION, ""),
        config_hash=labels.get(LABEL_CONFIG_HASH, ""),
        secrets_hash=labels.get(LABEL_SECRETS_HASH, ""),
        flags=_flags(spec.get("Env") or []),
        ip=ips[0] if ips else "",
        created=attrs.get("CreatedAt", ""),
        exit_code=int((status.get("ContainerStatus") or {}).get("ExitCode", 0) or 0),
    )


def parse(
    stack: str, services: Iterable[Mapping], tasks: Iterable[Mapping]
) -> SwarmState:
    """`services`: inspect documents of the stack's services; `tasks`: those of
    their tasks whose desired state is running."""
    by_id: dict[str, SwarmService] = {}
    for attrs in services:
        spec = attrs.get("Spec") or {}
        name = spec.get("Name", "")
        mode = spec.get("Mode") or {}
        replicas = int((mode.get("Replicated") or {}).get("Replicas", 0) or 0)
        by_id[attrs["ID"]] = SwarmService(
            service_name(stack, name), name, attrs["ID"], replicas, parse_update(attrs)
        )
    containers = []
    for t in tasks:
        owner = by_id.get(t.get("ServiceID", ""))
        if owner is not None and t.get("DesiredState", "running") == "running":
            containers.append(parse_task(owner.service, t))
    containers.sort(key=lambda c: (c.service, c.number, c.name))
    return SwarmState(
        stack,
        {s.service: s for s in by_id.values()},
        LiveState(stack, tuple(containers)),
    )


def update_findings(
    services: Mapping[str, SwarmService],
    desired: Mapping[str, Desired],
    live: LiveState,
) -> list[Finding]:
    """Swarm's own drift: an update paused or rolling back is stuck halfway; one
    rolled back is drift while the manifest still wants what Swarm rolled back
    (once the manifest names what runs again, the old rollback is only history)."""
    out = []
    for name, d in desired.items():
        s = services.get(name)
        if s is None or s.update is None or s.update.state not in FAILED_STATES:
            continue
        if s.update.state == ROLLED_BACK and all(
            c.config_hash == d.config_hash for c in live.for_service(name)
        ):
            continue
        found = s.update.state + (f": {s.update.message}" if s.update.message else "")
        out.append(Finding(name, UPDATE, "", "update completed", found))
    return out


def with_update_findings(report: DriftReport, extra: list[Finding]) -> DriftReport:
    """The report with Swarm's update findings added to the services they name."""
    if not extra:
        return report
    rows = []
    for s in report.services:
        mine = [f for f in extra if f.service == s.service]
        if mine:
            s = ServiceStatus(
                **{
                    **asdict(s),
                    "sync": OUT_OF_SYNC,
                    "kinds": tuple(s.kinds) + (UPDATE,),
                }
            )
        rows.append(s)
    return replace(
        report, findings=tuple(report.findings) + tuple(extra), services=tuple(rows)
    )
