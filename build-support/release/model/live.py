"""What runs: a snapshot of one Compose project's containers on a Docker host.

`parse_container` turns `docker inspect` data into plain data (pure, tested with
recorded inspect documents); adapters/docker_host.py asks the engine, through the
docker SDK, locally or over `ssh://` (DOCKER_HOST or --host). Of a container's
environment only the FEATURE_* variables are read: secrets never leave the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_NUMBER = "com.docker.compose.container-number"
# Labels the deploy puts on every container it creates (model/desired.py writes them).
LABEL_VERSION = "io.ecotrack.version"
LABEL_CONFIG_HASH = "io.ecotrack.config-hash"
LABEL_SECRETS_HASH = "io.ecotrack.secrets-hash"
_FEATURE = "FEATURE_"


@dataclass(frozen=True)
class LiveContainer:
    id: str
    name: str
    service: str
    number: int
    state: str  # running | exited | created | restarting | paused | dead
    health: str  # healthy | unhealthy | starting | none
    image: str  # the reference the container was created from
    digest: str  # sha256:... of the image, "" when it has none (a local build)
    version: str = ""
    config_hash: str = ""
    secrets_hash: str = ""
    flags: Mapping[str, str] = field(default_factory=dict)
    ip: str = ""  # on the project's network: how the proxy knows it
    created: str = ""
    restart_count: int = 0
    exit_code: int = 0
    published: tuple[tuple[str, str], ...] = ()  # (host ip, host port)
    # Container port ("8443/tcp") → its first (host ip, host port) binding as asked
    # for at creation: host port "" when Docker picked it.
    ports: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # Its failing health checks all ran out of time (a slow replica on a busy host)
    # rather than failing: not a verdict on the version by itself.
    checks_timed_out: bool = False
    # An unhealthy one asked again with a patient timeout (docker_host.snapshot):
    # True, it answers (slow, kept); False, it does not (broken); None, not asked.
    answers: bool | None = None

    @property
    def short_id(self) -> str:
        return self.id[:12]


@dataclass(frozen=True)
class LiveState:
    project: str
    containers: tuple[LiveContainer, ...]

    def for_service(self, service: str) -> tuple[LiveContainer, ...]:
        return tuple(c for c in self.containers if c.service == service)

    def by_id(self, container_id: str) -> LiveContainer | None:
        return next((c for c in self.containers if c.id == container_id), None)


def digest_of(reference: str, repo_digests: list[str]) -> str:
    """The image digest: from a digest-pinned reference, else its RepoDigests."""
    if "@sha256:" in reference:
        return reference.split("@", 1)[1]
    repository = reference.rsplit("@", 1)[0]
    last = repository.rsplit("/", 1)[-1]
    if ":" in last:
        repository = repository[: -(len(last) - last.index(":"))]
    for rd in repo_digests:
        if rd.split("@", 1)[0] == repository:
            return rd.split("@", 1)[1]
    return repo_digests[0].split("@", 1)[1] if repo_digests else ""


def _flags(env: list[str]) -> dict[str, str]:
    out = {}
    for item in env or []:
        key, sep, value = item.partition("=")
        if sep and key.startswith(_FEATURE) and len(key) > len(_FEATURE):
            out[key[len(_FEATURE) :].lower()] = value
    return dict(sorted(out.items()))


def _ip(networks: Mapping, project: str) -> str:
    if not networks:
        return ""
    preferred = [n for n in networks if n.startswith(f"{project}_")]
    name = sorted(preferred or networks)[0]
    return (networks.get(name) or {}).get("IPAddress") or ""


def timed_out(health: Mapping) -> bool:
    """Whether the current failing streak of a health log is made of timeouts only
    (Docker records a check that ran out of time with exit code -1)."""
    streak = []
    for entry in reversed(health.get("Log") or []):
        if entry.get("ExitCode", 0) == 0:
            break
        streak.append(entry)
    return bool(streak) and all(
        e.get("ExitCode") == -1 and "timeout" in (e.get("Output") or "") for e in streak
    )


def parse_container(attrs: Mapping, repo_digests: list[str]) -> LiveContainer:
    config = attrs.get("Config") or {}
    labels = config.get("Labels") or {}
    state = attrs.get("State") or {}
    network = attrs.get("NetworkSettings") or {}
    published = []
    for bindings in (network.get("Ports") or {}).values():
        for b in bindings or []:
            published.append((b.get("HostIp", ""), str(b.get("HostPort", ""))))
    ports = {}
    asked = (attrs.get("HostConfig") or {}).get("PortBindings") or {}
    for port, bindings in asked.items():
        for b in bindings or []:
            ports.setdefault(port, (b.get("HostIp", ""), str(b.get("HostPort", ""))))
    return LiveContainer(
        id=attrs["Id"],
        name=attrs.get("Name", "").lstrip("/"),
        service=labels.get(COMPOSE_SERVICE, ""),
        number=int(labels.get(COMPOSE_NUMBER, "0") or 0),
        state=state.get("Status", "unknown"),
        health=(state.get("Health") or {}).get("Status", "none"),
        image=config.get("Image", ""),
        digest=digest_of(config.get("Image", ""), repo_digests),
        version=labels.get(LABEL_VERSION, ""),
        config_hash=labels.get(LABEL_CONFIG_HASH, ""),
        secrets_hash=labels.get(LABEL_SECRETS_HASH, ""),
        flags=_flags(config.get("Env") or []),
        ip=_ip(network.get("Networks") or {}, labels.get(COMPOSE_PROJECT, "")),
        created=attrs.get("Created", ""),
        restart_count=int(attrs.get("RestartCount", 0) or 0),
        exit_code=int(state.get("ExitCode", 0) or 0),
        published=tuple(sorted(set(published))),
        ports=ports,
        checks_timed_out=timed_out(state.get("Health") or {}),
    )
