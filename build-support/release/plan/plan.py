"""The deploy plan: what should run (model/desired.py: manifest + Compose topology)
against what runs.

Pure: plain data in, plain data out, no Docker. `model/live.py` fetches the live
containers, `targets/host/rollout.py` carries the plan out. A container runs the desired
configuration when its config hash label matches the desired one (desired.config_hash).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from release.model.desired import ROLE_PROXY, Desired, Unit, unit_order
from release.model.live import LiveContainer, LiveState

ACTIONS = ("none", "roll", "scale", "create", "remove")

# Sync status and health are separate questions (worst first for health).
IN_SYNC, OUT_OF_SYNC = "IN_SYNC", "OUT_OF_SYNC"
HEALTH_ORDER = ("MISSING", "DEGRADED", "UNKNOWN", "PROGRESSING", "HEALTHY")


# -- live containers, grouped against one desired configuration ---------------------


@dataclass(frozen=True)
class Groups:
    current: tuple[LiveContainer, ...]  # running the desired config, not broken
    retire: tuple[LiveContainer, ...]  # running, but another config or broken
    garbage: tuple[LiveContainer, ...]  # not running: removed by ID, no drain needed


def broken(c: LiveContainer) -> bool:
    """Unhealthy and silent when asked again with patience. One that Docker calls
    unhealthy but that answers is slow (a busy host), not broken: it is kept, and
    shows as DEGRADED, rather than replaced."""
    return c.health == "unhealthy" and not c.answers


def classify(containers: Iterable[LiveContainer], config_hash: str) -> Groups:
    current, retire, garbage = [], [], []
    for c in sorted(containers, key=lambda c: (c.created, c.number, c.id)):
        if c.state != "running":
            garbage.append(c)
        elif c.config_hash == config_hash and not broken(c):
            current.append(c)
        else:
            retire.append(c)
    return Groups(tuple(current), tuple(retire), tuple(garbage))


def split_current(current: Sequence[LiveContainer], replicas: int):
    """(keep, extra): the oldest `replicas` current containers are kept, the ones
    Docker calls healthy before a slow one."""
    ordered = sorted(current, key=lambda c: c.health == "unhealthy")  # stable
    return tuple(ordered[:replicas]), tuple(ordered[replicas:])


# -- the plan -----------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """One side of a plan row: what runs (live) or should run (desired)."""

    digest: str
    version: str
    replicas: int
    flags: Mapping[str, str] = field(default_factory=dict)

    def short(self) -> str:
        digest = self.digest.split(":", 1)[-1][:12] if self.digest else "-"
        flags = ",".join(f"{k}={v}" for k, v in sorted(self.flags.items()))
        return f"{self.version} {digest} ×{self.replicas}" + (
            f" {{{flags}}}" if flags else ""
        )


@dataclass(frozen=True)
class ServicePlan:
    service: str
    entry: str
    role: str
    action: str
    live: Side | None
    desired: Side | None
    reasons: tuple[str, ...] = ()
    health: str = "UNKNOWN"
    managed: bool = True

    @property
    def sync(self) -> str:
        return IN_SYNC if self.action == "none" else OUT_OF_SYNC

    def to_dict(self) -> dict:
        return {
            "service": self.service,
            "entry": self.entry,
            "role": self.role,
            "action": self.action,
            "sync": self.sync,
            "health": self.health,
            "managed": self.managed,
            "live": asdict(self.live) if self.live else None,
            "desired": asdict(self.desired) if self.desired else None,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class Plan:
    environment: str
    project: str
    services: tuple[ServicePlan, ...]

    @property
    def changes(self) -> tuple[ServicePlan, ...]:
        return tuple(s for s in self.services if s.action != "none")

    @property
    def in_sync(self) -> bool:
        return not self.changes

    def to_dict(self) -> dict:
        return {
            "environment": self.environment,
            "project": self.project,
            "in_sync": self.in_sync,
            "services": [s.to_dict() for s in self.services],
        }


def _joined(values: Iterable[str]) -> str:
    distinct = sorted({v for v in values if v})
    return "+".join(distinct) if distinct else "-"


def live_side(containers: Sequence[LiveContainer]) -> Side | None:
    running = [c for c in containers if c.state == "running"]
    if not running:
        return None
    flags = Counter(json.dumps(dict(c.flags), sort_keys=True) for c in running)
    return Side(
        digest=_joined(c.digest for c in running),
        version=_joined(c.version for c in running),
        replicas=len(running),
        flags=json.loads(flags.most_common(1)[0][0]),
    )


def desired_side(d: Desired) -> Side:
    return Side(
        digest=d.digest, version=d.version, replicas=d.replicas, flags=dict(d.flags)
    )


def health_of(containers: Sequence[LiveContainer], replicas: int) -> str:
    running = [c for c in containers if c.state == "running"]
    if not running:
        return "MISSING" if replicas > 0 else "HEALTHY"
    healths = {c.health for c in running}
    if "unhealthy" in healths or len(running) < replicas:
        return "DEGRADED"
    if "starting" in healths:
        return "PROGRESSING"
    return "HEALTHY"


def _differences(d: Desired, others: Sequence[LiveContainer]) -> list[str]:
    reasons = []
    if any(c.digest != d.digest for c in others):
        reasons.append("image")
    if any(c.version != d.version for c in others):
        reasons.append("version")
    if any(dict(c.flags) != dict(d.flags) for c in others):
        reasons.append("flags")
    if d.secrets_hash and any(c.secrets_hash != d.secrets_hash for c in others):
        reasons.append("secrets")
    if not reasons and any(c.config_hash != d.config_hash for c in others):
        reasons.append("config")
    if any(broken(c) for c in others):
        reasons.append(f"{sum(broken(c) for c in others)} unhealthy, not answering")
    return reasons


def plan_service(
    unit: Unit, desired: Desired | None, containers: Sequence[LiveContainer]
) -> ServicePlan:
    live = live_side(containers)
    if desired is None:
        return ServicePlan(
            unit.service,
            unit.entry,
            unit.role,
            "none",
            live,
            None,
            ("not in the manifest: left as it is",),
            health_of(containers, live.replicas if live else 0),
            managed=False,
        )
    g = classify(containers, desired.config_hash)
    n = desired.replicas
    reasons: list[str] = []
    if n == 0:
        action = "remove" if containers else "none"
    elif not g.current and not g.retire:
        action = "create"
    elif g.retire:
        action = "roll"
        reasons += _differences(desired, g.retire)
    elif len(g.current) != n or g.garbage:
        action = "scale"
    else:
        action = "none"
    if action in ("roll", "scale") and live and live.replicas != n:
        reasons.append(f"replicas {live.replicas} → {n}")
    elif action == "scale" and len(g.current) != n:
        reasons.append(f"replicas {len(g.current)} → {n}")
    if g.garbage and action != "none":
        reasons.append(f"{len(g.garbage)} stopped container(s) to remove")
    slow = sum(c.health == "unhealthy" for c in g.current)
    if slow:
        reasons.append(f"{slow} unhealthy but answering: kept (degraded)")
    if unit.role == ROLE_PROXY and action == "roll":
        reasons.append("the proxy is replaced: a brief interruption")
    return ServicePlan(
        unit.service,
        unit.entry,
        unit.role,
        action,
        live,
        desired_side(desired),
        tuple(reasons),
        health_of(containers, n),
    )


def select(units: Iterable[Unit], names: Iterable[str]) -> tuple[Unit, ...]:
    """Units named by service or by manifest entry (waste selects waste-worker too)."""
    wanted = set(names)
    if not wanted:
        return tuple(units)
    return tuple(u for u in units if u.service in wanted or u.entry in wanted)


def make_plan(
    environment: str,
    project: str,
    units: Sequence[Unit],
    desired: Mapping[str, Desired],
    live: LiveState,
) -> Plan:
    rows = []
    for u in sorted(units, key=unit_order):
        containers = live.for_service(u.service)
        if u.service in desired or containers:  # unmanaged and absent: not shown
            rows.append(plan_service(u, desired.get(u.service), containers))
    return Plan(environment, project, tuple(rows))


def summary(plan: Plan) -> str:
    """One line naming what a deploy changes (for the lock and the log)."""
    parts = [
        f"{s.service} {s.desired.version}" if s.desired else s.service
        for s in plan.changes
    ]
    return ", ".join(parts) if parts else "nothing (in sync)"
