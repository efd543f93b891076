"""What the Docker benches set up and take down: a registry of their own, images
derived from the ones Pants built (pushed, so they have digests), a Compose project
and a state directory of their own; and a reporter that times each step."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from release.adapters.docker_engine import ensure_engine
from release.adapters.registry_local import LocalRegistry, LocalRegistryConfig
from release.engine.events import Reporter
from testing.commands import docker, free_port


class BenchStack:
    """The engine started if need be, then a scratch directory (also the state
    home), a Compose project name, a proxy port and a registry; `remove()` takes
    all of it down again, with the images the bench derived (`made`)."""

    def __init__(self, name: str):
        ensure_engine()
        self.workdir = Path(tempfile.mkdtemp(prefix=f"ecotrack-bench-{name}-"))
        os.environ["XDG_STATE_HOME"] = str(self.workdir / "state")
        self.project = f"ecotrack-{name}-bench-{uuid.uuid4().hex[:6]}"
        self.port = free_port()
        self.registry = LocalRegistry(
            LocalRegistryConfig(port=free_port(), home=self.workdir / "reg")
        )
        self.made: list[str] = []

    def remove(self) -> None:
        remove_project(self.project)
        remove_registry(self.registry, self.made)
        shutil.rmtree(self.workdir, ignore_errors=True)


class Steps(Reporter):
    """Progress on stderr, and the time each step line was printed."""

    def __init__(self):
        super().__init__(as_json=True)
        self.times: list[tuple[float, str]] = []

    def step(self, service: str, step: str, message: str) -> None:
        self.times.append((time.time(), f"{service} {step}"))
        super().step(service, step, message)

    def info(self, message: str) -> None:
        self.times.append((time.time(), message))
        super().info(message)

    def result(self, result) -> None:
        pass


def remove_registry(registry: LocalRegistry, made: list[str]) -> None:
    """Stops the bench's registry; removes its derived images and pushed tags."""
    registry.stop()
    subprocess.run(["docker", "rmi", "-f", *made], capture_output=True)
    refs = docker("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    pushed = [r for r in refs if r.startswith(registry.address + "/")]
    if pushed:
        subprocess.run(["docker", "rmi", "-f", *pushed], capture_output=True)


def remove_project(project: str) -> None:
    """Every container, volume and network of the bench's Compose project."""
    label = f"label=com.docker.compose.project={project}"
    ids = docker("ps", "-aq", "--filter", label).split()
    if ids:
        docker("rm", "-f", *ids)
    for kind in ("volume", "network"):
        found = docker(kind, "ls", "-q", "--filter", label).split()
        if found:
            subprocess.run(["docker", kind, "rm", *found], capture_output=True)


def derive(base: str, ref: str, extra: str = "") -> str:
    docker(
        "build", "-q", "-t", ref, "-", stdin=f"FROM {base}\nLABEL bench={ref}\n{extra}"
    )
    return ref
