"""The embedded default registry: Debian's `docker-registry` (distribution) on
127.0.0.1, its data under the host's state dir, started detached and health-checked
on `/v2/` on demand, idempotently.

Configuration (environment variables, all optional):
  ECOTRACK_REGISTRY_PORT  port on 127.0.0.1 (default 5000)
  ECOTRACK_REGISTRY_DIR   config, log, pid file and storage/ (default
                          ~/.local/state/ecotrack/registry[-<port>])

The Docker engine treats 127.0.0.0/8 as an insecure registry, so pushing needs no TLS
and no login. Tags are immutable by our rule (docker-registry itself would overwrite).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from release.adapters import docker_images, machine
from release.adapters.registry_http import API_VERSION_HEADER, RegistryApi
from release.base import console
from release.base.layout import state_dir
from release.model.registry import RegistryError, accept_existing, short, verify_tag

HOST = "127.0.0.1"
DEFAULT_PORT = 5000
START_TIMEOUT_S = 20.0
BINARY = "docker-registry"


@dataclass(frozen=True)
class LocalRegistryConfig:
    port: int = DEFAULT_PORT
    home: Path = Path()

    @classmethod
    def from_env(cls) -> "LocalRegistryConfig":
        raw = os.environ.get("ECOTRACK_REGISTRY_PORT", str(DEFAULT_PORT))
        try:
            port = int(raw)
        except ValueError:
            raise RegistryError(f"ECOTRACK_REGISTRY_PORT={raw!r} is not a port")
        default = state_dir() / (
            "registry" if port == DEFAULT_PORT else f"registry-{port}"
        )
        home = Path(os.environ.get("ECOTRACK_REGISTRY_DIR") or default)
        return cls(port=port, home=home)

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def storage(self) -> Path:
        return self.home / "storage"

    @property
    def config_file(self) -> Path:
        return self.home / "config.yml"

    @property
    def log_file(self) -> Path:
        return self.home / "registry.log"

    @property
    def pid_file(self) -> Path:
        return self.home / "registry.pid"

    def config_text(self) -> str:
        """docker-registry's configuration: filesystem storage, deletes enabled (so
        cleanup can work), listening on 127.0.0.1 only."""
        return "\n".join(
            [
                "version: 0.1",
                "log:",
                "  level: warn",
                "  accesslog:",
                "    disabled: true",
                "storage:",
                "  filesystem:",
                f"    rootdirectory: {self.storage}",
                "  delete:",
                "    enabled: true",
                "http:",
                f"  addr: {self.address}",
                "",
            ]
        )


class LocalRegistry:
    kind = "local"

    def __init__(self, config: LocalRegistryConfig) -> None:
        self.config = config
        self.api = RegistryApi(f"http://{config.address}")

    @classmethod
    def from_env(cls) -> "LocalRegistry":
        return cls(LocalRegistryConfig.from_env())

    @property
    def address(self) -> str:
        return self.config.address

    # -- lifecycle ------------------------------------------------------------------

    def answers(self) -> bool:
        """True when a registry answers /v2/; RegistryError when something else
        holds the port."""
        try:
            r = self.api.ping()
        except RegistryError:
            return False
        if r.status_code == 200 and API_VERSION_HEADER in r.headers:
            return True
        raise RegistryError(
            f"{self.address} answers but not as a registry (HTTP {r.status_code} on "
            "/v2/); free the port or set ECOTRACK_REGISTRY_PORT"
        )

    def ensure_running(self) -> None:
        if self.answers():
            return
        binary = _binary()
        cfg = self.config
        cfg.storage.mkdir(parents=True, exist_ok=True)
        cfg.config_file.write_text(cfg.config_text())
        console.info(
            f"starting the local registry on {self.address} (data: {cfg.storage})"
        )
        with open(cfg.log_file, "ab") as log:
            child = subprocess.Popen(
                [binary, "serve", str(cfg.config_file)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # outlives this command, like a service
            )
        cfg.pid_file.write_text(f"{child.pid}\n")
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.answers():
                return
            if child.poll() is not None:
                break
            time.sleep(0.2)
        raise RegistryError(
            f"the local registry did not start on {self.address}; see {cfg.log_file}"
        )

    def stop(self) -> bool:
        """Stops the registry this tooling started (by the pid in its pid file)."""
        try:
            pid = int(self.config.pid_file.read_text().strip())
        except (OSError, ValueError):
            return False
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        except OSError:
            cmdline = ""
        stopped = False
        if BINARY in cmdline and str(self.config.config_file) in cmdline:
            os.kill(pid, signal.SIGTERM)
            stopped = True
            for _ in range(50):
                if not _alive(pid):
                    break
                time.sleep(0.1)
        self.config.pid_file.unlink(missing_ok=True)
        return stopped

    def login(self) -> None:
        """Nothing to do: the embedded registry has no authentication."""

    # -- images ---------------------------------------------------------------------

    def push(self, local_ref: str, repository: str, tag: str) -> str:
        name = f"{self.address}/{repository}"
        existing = self.digest_of(repository, tag)
        if existing is not None:
            return accept_existing(
                name, tag, existing, docker_images.pushed_digests(local_ref, name)
            )
        docker_images.tag(local_ref, f"{name}:{tag}")
        digest = docker_images.push(f"{name}:{tag}")
        verify_tag(name, tag, digest, self.digest_of(repository, tag))
        return digest

    def digest_of(self, repository: str, tag: str) -> str | None:
        return self.api.digest_of(repository, tag)

    def has_tag(self, repository: str, tag: str) -> bool:
        return self.digest_of(repository, tag) is not None

    def retag(self, repository: str, digest: str, new_tag: str) -> None:
        existing = self.digest_of(repository, new_tag)
        if existing == digest:
            return  # already tagged: re-tagging is idempotent
        if existing is not None:
            raise RegistryError(
                f"{self.address}/{repository}:{new_tag} already points at "
                f"{short(existing)}, not {short(digest)}; tags are immutable"
            )
        self.api.put_manifest(
            repository, new_tag, self.api.get_manifest(repository, digest)
        )


def _alive(pid: int) -> bool:
    """Still running: not gone, and not a zombie (reaped here if it is our child)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: its parent reaps it
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _binary() -> str:
    machine.ensure(("registry",))  # installs Debian's docker-registry where it can
    found = shutil.which(BINARY)
    if found:
        return found
    raise RegistryError(
        f"{BINARY} is not installed: apt-get install {BINARY} "
        "(or run a registry yourself and set ECOTRACK_REGISTRY_PORT)"
    )
