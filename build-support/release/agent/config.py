"""How one agent is configured: `./inv agent`'s options, checked."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from release.base.errors import UsageError
from release.base.layout import project_name, state_dir

DEFAULT_LISTEN = "127.0.0.1:8790"


@dataclass(frozen=True)
class AgentConfig:
    env: str
    repo: str
    branch: str = "main"
    interval: float = 30.0
    self_heal: bool = False
    listen: str = DEFAULT_LISTEN  # host:port, "" for no HTTP server
    once: bool = False
    project: str = ""
    host: str = ""  # Docker host (default: DOCKER_HOST or local)
    health_timeout: float = 120.0
    home: Path | None = None  # state directory (default: <state dir>/agent/<project>)
    hosts: str = ""  # a fleet's hosts file (default: the checkout's hosts.yaml, if any)
    token_file: str = ""  # the HTTP bearer token (default off loopback: generated)

    @property
    def project_name(self) -> str:
        return project_name(self.env, self.project)

    @property
    def state_home(self) -> Path:
        return self.home or state_dir() / "agent" / self.project_name

    @property
    def generated_token_path(self) -> Path:
        return self.state_home / "http.token"


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise UsageError(
            f"--listen '{listen}' is not HOST:PORT (e.g. {DEFAULT_LISTEN})"
        )
    return host.strip("[]"), int(port)


def repo_location(repo: str) -> str:
    """A local path becomes absolute (the clone lives elsewhere); URLs stay."""
    if "://" in repo or repo.startswith("git@"):
        return repo
    path = Path(repo).expanduser()
    if not path.exists():
        raise UsageError(f"--repo {repo}: no such path (or give a URL)")
    return str(path.resolve())
