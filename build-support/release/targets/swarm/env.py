"""A Swarm environment: gitops/environments/<env>/hosts.yaml with `target: swarm`
(pure, validated eagerly; fleet.load dispatches here on the `target` key).

    target: swarm
    manager: ssh://deploy@10.0.1.10     # a manager (or unix:///var/run/docker.sock)
    proxy_port: 80                      # the proxy's port, published in host mode
    monitor: 10                         # seconds Swarm watches a new task (default 10)

Swarm places the tasks on its nodes itself: the environment names only the manager
that `docker stack deploy` talks to. Every error is one line naming file and key.
"""

from __future__ import annotations

from dataclasses import dataclass

from release.base.errors import ConfigError
from release.targets.fleet.hosts import SSH, UNIX

TARGET = "swarm"
KEYS = ("target", "manager", "proxy_port", "monitor")
DEFAULT_PROXY_PORT = 8080
DEFAULT_MONITOR = 10


@dataclass(frozen=True)
class SwarmEnv:
    manager: str  # the Docker endpoint of a manager node
    proxy_port: int = DEFAULT_PROXY_PORT
    monitor: int = DEFAULT_MONITOR  # seconds, Swarm's update_config.monitor
    source: str = ""

    def to_dict(self) -> dict:
        return {
            "target": TARGET,
            "manager": self.manager,
            "proxy_port": self.proxy_port,
            "monitor": self.monitor,
        }


def _fail(source: str, key: str, message: str) -> ConfigError:
    return ConfigError(f"{source}: {key}: {message}")


def _positive(data: dict, source: str, key: str, default: int, top: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= top:
        raise _fail(source, key, f"must be an integer from 1 to {top} (got {value!r})")
    return value


def parse(data: dict, source: str) -> SwarmEnv:
    """A SwarmEnv from hosts.yaml's data; ConfigError (file, key) if invalid."""
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise _fail(
            source,
            unknown[0],
            f"unknown key for target swarm (known: {', '.join(KEYS)})",
        )
    if data.get("target") != TARGET:
        raise _fail(source, "target", f"must be 'swarm' (got {data.get('target')!r})")
    manager = data.get("manager")
    if not isinstance(manager, str) or not (SSH.match(manager) or UNIX.match(manager)):
        raise _fail(
            source,
            "manager",
            f"must be ssh://user@host[:port] or unix:///path (got {manager!r})",
        )
    port = _positive(data, source, "proxy_port", DEFAULT_PROXY_PORT, 65535)
    monitor = _positive(data, source, "monitor", DEFAULT_MONITOR, 600)
    return SwarmEnv(manager, port, monitor, source)
