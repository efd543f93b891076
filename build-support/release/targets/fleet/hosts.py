"""An environment's fleet: the Docker hosts it runs on, read from
gitops/environments/<env>/hosts.yaml and validated eagerly (pure, apart from
reading the file).

    hosts:
      - name: web-1
        endpoint: ssh://deploy@10.0.1.11      # or ssh://user@host:2222, unix:///path
        labels: {zone: a}
      - name: web-2
        endpoint: ssh://deploy@10.0.1.12
    batch_size: 1            # hosts rolled at the same time (default 1)
    front_proxy: 127.0.0.1:8080   # optional: the load balancer in front (documented)

targets/environment.py reads the file and picks the target: `target: compose` (the
default) is this file, `target: swarm` a Swarm (targets/swarm/env.py). Every error
is one line naming the file and the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from release.base.errors import ConfigError

HOSTS_FILE = "hosts.yaml"
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
SSH = re.compile(r"^ssh://[A-Za-z0-9._-]+@[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
UNIX = re.compile(r"^unix:///\S+$")
FRONT = re.compile(r"^[A-Za-z0-9.-]+:[0-9]{1,5}$")
TOP_KEYS = ("target", "hosts", "batch_size", "front_proxy")
HOST_KEYS = ("name", "endpoint", "labels")


@dataclass(frozen=True)
class FleetHost:
    name: str
    endpoint: str
    labels: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "endpoint": self.endpoint, "labels": self.labels}


@dataclass(frozen=True)
class Fleet:
    hosts: tuple[FleetHost, ...]
    batch_size: int = 1
    front_proxy: str = ""
    source: str = ""

    def batches(self) -> list[tuple[FleetHost, ...]]:
        """The hosts in rollout order, `batch_size` at a time."""
        n = self.batch_size
        return [self.hosts[i : i + n] for i in range(0, len(self.hosts), n)]

    def to_dict(self) -> dict:
        return {
            "hosts": [h.to_dict() for h in self.hosts],
            "batch_size": self.batch_size,
            "front_proxy": self.front_proxy,
        }


def _fail(source: str, key: str, message: str) -> ConfigError:
    return ConfigError(f"{source}: {key}: {message}")


def parse(data, source: str = HOSTS_FILE) -> Fleet:
    """A Fleet from hosts.yaml's data (`target: compose`, the default); ConfigError
    (one line: file, key) if invalid."""
    if not isinstance(data, dict):
        raise _fail(source, "(top)", "must be a mapping with a 'hosts' list")
    if data.get("target", "compose") != "compose":
        raise _fail(source, "target", f"is {data['target']!r}: not a fleet of hosts")
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise _fail(source, unknown[0], f"unknown key (known: {', '.join(TOP_KEYS)})")
    raw_hosts = data.get("hosts")
    if not isinstance(raw_hosts, list) or not raw_hosts:
        raise _fail(source, "hosts", "must be a non-empty list of hosts")
    hosts: list[FleetHost] = []
    seen_names: set[str] = set()
    seen_endpoints: set[str] = set()
    for i, raw in enumerate(raw_hosts):
        key = f"hosts[{i}]"
        if not isinstance(raw, dict):
            raise _fail(source, key, "must be a mapping with name and endpoint")
        extra = sorted(set(raw) - set(HOST_KEYS))
        if extra:
            raise _fail(
                source,
                f"{key}.{extra[0]}",
                f"unknown key (known: {', '.join(HOST_KEYS)})",
            )
        name = raw.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            raise _fail(
                source,
                f"{key}.name",
                f"must be a lowercase name like web-1 (got {name!r})",
            )
        if name in seen_names:
            raise _fail(source, f"{key}.name", f"duplicate host name '{name}'")
        endpoint = raw.get("endpoint")
        if not isinstance(endpoint, str) or not (
            SSH.match(endpoint) or UNIX.match(endpoint)
        ):
            raise _fail(
                source,
                f"{key}.endpoint",
                f"must be ssh://user@host[:port] or unix:///path (got {endpoint!r})",
            )
        port = endpoint.rsplit(":", 1)[1] if SSH.match(endpoint) else ""
        if port.isdigit() and not 0 < int(port) < 65536:
            raise _fail(source, f"{key}.endpoint", f"port {port} is out of range")
        if endpoint in seen_endpoints:
            raise _fail(source, f"{key}.endpoint", f"duplicate endpoint '{endpoint}'")
        labels = raw.get("labels", {}) or {}
        if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, (str, int, float, bool))
            for k, v in labels.items()
        ):
            raise _fail(source, f"{key}.labels", "must be a mapping of names to values")
        seen_names.add(name)
        seen_endpoints.add(endpoint)
        hosts.append(FleetHost(name, endpoint, {k: str(v) for k, v in labels.items()}))
    batch = data.get("batch_size", 1)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise _fail(source, "batch_size", f"must be a positive integer (got {batch!r})")
    front = data.get("front_proxy", "") or ""
    if not isinstance(front, str) or (front and not FRONT.match(front)):
        raise _fail(source, "front_proxy", f"must be host:port (got {front!r})")
    return Fleet(tuple(hosts), batch, front, source)
