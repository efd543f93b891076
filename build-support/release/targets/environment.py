"""The Target factory: where an environment deploys, as
gitops/environments/<env>/hosts.yaml says. No file is one Docker host (local,
--host or DOCKER_HOST); `target: compose` (the default) a fleet of hosts
(targets/fleet/hosts.py); `target: swarm` a Swarm (targets/swarm/env.py). Pure,
apart from reading the file. The one place that knows the kinds of target.
"""

from __future__ import annotations

from pathlib import Path

from release.base.errors import ConfigError, UsageError
from release.engine.access import HostAccess
from release.targets.fleet.hosts import HOSTS_FILE, Fleet
from release.targets.fleet.hosts import parse as parse_fleet
from release.targets.fleet.target import FleetTarget
from release.targets.host.target import HostTarget
from release.targets.swarm.env import SwarmEnv
from release.targets.swarm.env import parse as parse_swarm
from release.targets.swarm.target import SwarmTarget
from release.targets.target import Target

# hosts.yaml's `target:` → how the file reads, and the Target it makes.
KINDS = {
    "compose": (parse_fleet, FleetTarget),
    "swarm": (parse_swarm, SwarmTarget),
}


def _kind(data, source: str):
    kind = data.get("target", "compose") if isinstance(data, dict) else "compose"
    if kind not in KINDS:
        raise ConfigError(
            f"{source}: target: must be {' or '.join(KINDS)} (got {kind!r})"
        )
    return KINDS[kind]


def parse(data, source: str = HOSTS_FILE) -> Fleet | SwarmEnv:
    """A Fleet, or with `target: swarm` a SwarmEnv, from hosts.yaml's data;
    ConfigError (one line: file, key) if invalid."""
    read, _ = _kind(data, source)
    return read(data, source)


def hosts_path(gitops_root: Path, env: str) -> Path:
    return gitops_root / "environments" / env / HOSTS_FILE


def _read(path: Path):
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f"line {line + 1}" if line is not None else "(top)"
        raise ConfigError(f"{path}: {where}: not valid YAML") from None
    return data


def load(path: Path) -> Fleet | SwarmEnv:
    return parse(_read(path), str(path))


def find(gitops_root: Path, env: str, override: str = "") -> Fleet | SwarmEnv | None:
    """The environment's fleet: `override` (a hosts file) if given, else its
    hosts.yaml if it has one, else None (a single host)."""
    if override:
        return load(Path(override))
    path = hosts_path(gitops_root, env)
    return load(path) if path.is_file() else None


def open_target(
    access: HostAccess, gitops_root: Path, env: str, hosts: str = "", host: str = ""
) -> Target:
    """The environment's Target: the hosts file `hosts` if given, else its
    hosts.yaml, else the one Docker host `host` (default: DOCKER_HOST, the local
    engine). `--host` with a hosts file is refused here, once for every command.
    `access`: how the target reaches Docker hosts (cli/wiring.py passes it)."""
    path = Path(hosts) if hosts else hosts_path(gitops_root, env)
    if not hosts and not path.is_file():
        return HostTarget(access, env, host)
    data = _read(path)
    read, make = _kind(data, str(path))
    target = make(access, env, read(data, str(path)))
    if host:
        raise UsageError(
            f"--host names one Docker host, but {target.source} describes "
            f"{target.label}: drop --host (or --hosts-file)"
        )
    return target
