"""What should run: the topology of the environment's Compose files (which Compose
service runs which manifest entry, and how) and the manifest laid on top of it.

Pure: plain data in, plain data out, no Docker. The desired configuration of a service
is summed up in one hash (`config_hash`) over the service as Compose resolves it
(image, feature flags, secrets from the env file, labels, every Compose setting), so
anything that would change a container shows up as a difference, and the hash is the
same on every machine that deploys the same manifest with the same secrets.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from release.model.live import LABEL_CONFIG_HASH, LABEL_SECRETS_HASH, LABEL_VERSION
from release.model.manifest import Manifest, parse_image

ROLE_HTTP = "http"  # behind the proxy: rolled start-first, drained before stop
ROLE_WORKER = "worker"  # a second process of an HTTP service's image: stop-first
ROLE_PROXY = "proxy"  # the entry point itself


FEATURE_PREFIX = "FEATURE_"
SECRETS_VARIABLE = "ECOTRACK_SECRETS_FILE"
# The token keys (gitops/secrets.py) as files under /run/secrets in the containers:
# auth mounts the signing keys, the verifiers only the public keys. On a Compose host
# each set is a volume the deploy fills (named by the variable); on Swarm each file
# is a Docker secret.
SIGNING_KEY_FILE = "jwt_private_key"
PUBLIC_KEYS_FILE = "jwt_public_keys"
KEYS_MOUNT = "/run/secrets"
KEY_VOLUMES = {
    "signing-keys": (SIGNING_KEY_FILE, PUBLIC_KEYS_FILE),
    "public-keys": (PUBLIC_KEYS_FILE,),
}
_IMAGE_VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)_IMAGE\b")
_DURATION = re.compile(r"^(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")


# -- topology: which Compose service runs which manifest entry, and how -------------


@dataclass(frozen=True)
class Unit:
    """A Compose service the deploy manages."""

    service: str  # Compose service name (waste-worker)
    entry: str  # manifest entry whose image it runs (waste)
    role: str  # ROLE_HTTP | ROLE_WORKER | ROLE_PROXY
    replicas: int  # the Compose file's default (workers keep theirs)
    uses_secrets: bool  # reads the host's secrets (env file or key files)
    stop_grace: float  # seconds between SIGTERM and SIGKILL
    key_files: tuple[str, ...] = ()  # the token keys it mounts (KEY_VOLUMES)
    env_file: bool = False  # reads the host's secrets env file


def key_volume_name(project: str, volume: str) -> str:
    return f"{project}-{volume}"


def key_volume_variables(project: str) -> dict[str, str]:
    """{"ECOTRACK_SIGNING_KEYS_VOLUME": "<project>-signing-keys", ...}: the names
    the Compose files give the key volumes (external: the deploy fills them)."""
    return {
        f"ECOTRACK_{v.upper().replace('-', '_')}_VOLUME": key_volume_name(project, v)
        for v in KEY_VOLUMES
    }


def key_volumes_of(spec: Mapping) -> tuple[str, ...]:
    """The key volumes (KEY_VOLUMES) a Compose service mounts."""
    found = []
    for v in spec.get("volumes") or []:
        source = v.get("source") if isinstance(v, Mapping) else str(v).split(":")[0]
        if source in KEY_VOLUMES:
            found.append(source)
    return tuple(found)


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


def merged_services(docs: Sequence[Mapping]) -> dict[str, dict]:
    """The Compose files' services, later files layered on earlier ones (as
    `docker compose -f a -f b` merges them: mappings key by key)."""
    out: dict[str, dict] = {}
    for doc in docs:
        for name, spec in ((doc or {}).get("services") or {}).items():
            out[name] = _merge(out.get(name, {}), dict(spec or {}))
    return out


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
    services = merged_services(docs)
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
        key_files = tuple(
            sorted({f for v in key_volumes_of(spec) for f in KEY_VOLUMES[v]})
        )
        env_file = any(SECRETS_VARIABLE in str(f) for f in env_files)
        units.append(
            Unit(
                service=name,
                entry=entry,
                role=role,
                replicas=int((spec.get("deploy") or {}).get("replicas", 1)),
                uses_secrets=bool(key_files) or env_file,
                stop_grace=parse_duration(spec.get("stop_grace_period")),
                key_files=key_files,
                env_file=env_file,
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
