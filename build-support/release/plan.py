"""The deploy plan: what should run (manifest + Compose topology) against what runs.

Pure: plain data in, plain data out, no Docker. `live.py` fetches the live containers,
`rollout.py` carries the plan out. The desired configuration of a service is summed
up in one hash (`config_hash`) over the service as Compose resolves it (image, feature
flags, secrets from the env file, labels, every Compose setting), so anything that
would change a container shows up as a difference, and the hash is the same on every
machine that deploys the same manifest with the same secrets.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from release.live import (
    LABEL_CONFIG_HASH,
    LABEL_SECRETS_HASH,
    LABEL_VERSION,
    LiveContainer,
    LiveState,
)
from release.manifest import Manifest, parse_image

ROLE_HTTP = "http"  # behind the proxy: rolled start-first, drained before stop
ROLE_WORKER = "worker"  # a second process of an HTTP service's image: stop-first
ROLE_PROXY = "proxy"  # the entry point itself

ACTIONS = ("none", "roll", "scale", "create", "remove")

FEATURE_PREFIX = "FEATURE_"
SECRETS_VARIABLE = "ECOTRACK_SECRETS_FILE"
_IMAGE_VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)_IMAGE\b")
_DURATION = re.compile(r"^(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")

# Sync status and health are separate questions (worst first for health).
IN_SYNC, OUT_OF_SYNC = "IN_SYNC", "OUT_OF_SYNC"
HEALTH_ORDER = ("MISSING", "DEGRADED", "UNKNOWN", "PROGRESSING", "HEALTHY")


# -- topology: which Compose service runs which manifest entry, and how -------------


@dataclass(frozen=True)
class Unit:
    """A Compose service the deploy manages."""

    service: str  # Compose service name (waste-worker)
    entry: str  # manifest entry whose image it runs (waste)
    role: str  # ROLE_HTTP | ROLE_WORKER | ROLE_PROXY
    replicas: int  # the Compose file's default (workers keep theirs)
    uses_secrets: bool  # reads the host's secrets env file
    stop_grace: float  # seconds between SIGTERM and SIGKILL


def parse_duration(text: object, default: float = 10.0) -> float:
    """Compose durations: "15s", "1m30s", "2.5s" (and bare numbers)."""
    if text is None or text == "":
        return default
    if isinstance(text, (int, float)):
        return float(text)
    m = _DURATION.match(str(text).strip())
    if not m or not any(m.groups()):
        return default
    return int(m.group(1) or 0) * 60 + float(m.group(2) or 0)


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def units_from_compose(docs: Sequence[Mapping]) -> tuple[Unit, ...]:
    """Units from the Compose files as written (base first, environment on top).

    A service runs the manifest entry named by its image variable (`${WASTE_IMAGE}`
    → waste). It is the entry's HTTP service when it bears the entry's name, the proxy
    when the entry is `proxy`, and otherwise a worker of that entry's image.
    """
    services: dict[str, dict] = {}
    for doc in docs:
        for name, spec in (doc.get("services") or {}).items():
            services[name] = _merge(services.get(name, {}), dict(spec or {}))
    units = []
    for name, spec in services.items():
        m = _IMAGE_VARIABLE.search(str(spec.get("image", "")))
        if not m:
            continue
        entry = m.group(1).lower().replace("_", "-")
        role = (
            ROLE_PROXY
            if entry == "proxy"
            else ROLE_HTTP if name == entry else ROLE_WORKER
        )
        env_files = spec.get("env_file") or []
        env_files = [env_files] if isinstance(env_files, str) else env_files
        units.append(
            Unit(
                service=name,
                entry=entry,
                role=role,
                replicas=int((spec.get("deploy") or {}).get("replicas", 1)),
                uses_secrets=any(SECRETS_VARIABLE in str(f) for f in env_files),
                stop_grace=parse_duration(spec.get("stop_grace_period")),
            )
        )
    return tuple(sorted(units, key=unit_order))


def unit_order(unit: Unit) -> tuple:
    """The stable order services roll in: the proxy, then by entry, API first."""
    return (
        unit.role != ROLE_PROXY,
        unit.entry,
        unit.role != ROLE_HTTP,
        unit.service,
    )


# -- desired state ------------------------------------------------------------------


@dataclass(frozen=True)
class Desired:
    service: str
    entry: str
    role: str
    image: str  # repository:tag@sha256:digest
    version: str
    replicas: int
    flags: Mapping[str, str]
    secrets_hash: str  # "" for services without secrets
    config_hash: str = ""  # filled in once Compose has resolved the service

    @property
    def digest(self) -> str:
        return parse_image(self.image).digest


def flag_env(flags: Mapping[str, str]) -> dict[str, str]:
    """Manifest feature flags as container environment: x_y → FEATURE_X_Y."""
    return {f"{FEATURE_PREFIX}{k.upper()}": str(v) for k, v in sorted(flags.items())}


def secrets_hash(values: Mapping[str, str]) -> str:
    """A short fingerprint of the secrets (never the secrets): rotation changes it."""
    text = "\n".join(f"{k}={v}" for k, v in sorted(values.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def desired_units(
    manifest: Manifest, units: Iterable[Unit], secrets_fingerprint: str
) -> dict[str, Desired]:
    """{compose service: Desired} for every unit whose entry the manifest names."""
    out = {}
    for unit in units:
        entry = manifest.services.get(unit.entry)
        if entry is None:
            continue
        if unit.role == ROLE_HTTP:
            replicas = entry.replicas
        elif unit.role == ROLE_PROXY:
            replicas = 1 if entry.replicas > 0 else 0
        else:  # a worker follows its API: none when the API is removed
            replicas = unit.replicas if entry.replicas > 0 else 0
        out[unit.service] = Desired(
            service=unit.service,
            entry=unit.entry,
            role=unit.role,
            image=entry.image,
            version=entry.version,
            replicas=replicas,
            flags=dict(entry.feature_flags),
            secrets_hash=secrets_fingerprint if unit.uses_secrets else "",
        )
    return out


def compose_override(
    desired: Mapping[str, Desired], hashes: Mapping[str, str] | None = None
) -> dict:
    """The Compose file (JSON) layered on top of the environment's files for a
    deploy: version and fingerprints as labels, feature flags as environment."""
    services = {}
    for name, d in sorted(desired.items()):
        labels = {LABEL_VERSION: d.version}
        if d.secrets_hash:
            labels[LABEL_SECRETS_HASH] = d.secrets_hash
        if hashes and name in hashes:
            labels[LABEL_CONFIG_HASH] = hashes[name]
        spec: dict = {"labels": labels}
        if d.flags:
            spec["environment"] = flag_env(d.flags)
        services[name] = spec
    return {"services": services}


def config_hash(service_config: Mapping) -> str:
    """Hash of a service as `compose config --format json` resolves it, without what
    may differ between replicas of one configuration (the replica count) and
    without the hash label itself."""
    cfg = copy.deepcopy(dict(service_config))
    cfg.pop("scale", None)
    if isinstance(cfg.get("deploy"), dict):
        cfg["deploy"].pop("replicas", None)
    if isinstance(cfg.get("labels"), dict):
        cfg["labels"].pop(LABEL_CONFIG_HASH, None)
    text = json.dumps(cfg, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def with_hashes(
    desired: Mapping[str, Desired], hashes: Mapping[str, str]
) -> dict[str, Desired]:
    return {
        n: Desired(**{**asdict(d), "config_hash": hashes[n]})
        for n, d in desired.items()
    }


# -- live containers, grouped against one desired configuration ---------------------


@dataclass(frozen=True)
class Groups:
    current: tuple[LiveContainer, ...]  # running the desired config, not unhealthy
    retire: tuple[LiveContainer, ...]  # running, but another config or unhealthy
    garbage: tuple[LiveContainer, ...]  # not running: removed by ID, no drain needed


def classify(containers: Iterable[LiveContainer], config_hash: str) -> Groups:
    current, retire, garbage = [], [], []
    for c in sorted(containers, key=lambda c: (c.created, c.number, c.id)):
        if c.state != "running":
            garbage.append(c)
        elif c.config_hash == config_hash and c.health != "unhealthy":
            current.append(c)
        else:
            retire.append(c)
    return Groups(tuple(current), tuple(retire), tuple(garbage))


def split_current(current: Sequence[LiveContainer], replicas: int):
    """(keep, extra): the oldest `replicas` current containers are kept."""
    return tuple(current[:replicas]), tuple(current[replicas:])


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
    if any(c.health == "unhealthy" for c in others):
        reasons.append(f"{sum(c.health == 'unhealthy' for c in others)} unhealthy")
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
    if unit.role == ROLE_PROXY and action == "roll":
        reasons.append("the proxy is recreated: a brief interruption")
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
