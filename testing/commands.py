"""The commands tests and benches run: the docker CLI and ./inv, from the repository
root, with their output captured."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from release.adapters.daemons import free_port  # noqa: F401 (one free_port for all)

ROOT = Path(__file__).resolve().parents[1]
INV = str(ROOT / "inv")


def docker(
    *args: str, stdin: str | None = None, check: bool = True, host: str | None = None
) -> str:
    """`docker ARGS` (on `host`, a DOCKER_HOST, if given); its stdout, stripped.
    RuntimeError with docker's own message when it fails and `check` is set."""
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    if host:
        env["DOCKER_HOST"] = host
    r = subprocess.run(
        ["docker", *args], input=stdin, text=True, capture_output=True, env=env
    )
    if check and r.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])}: {r.stderr.strip()}")
    return r.stdout.strip()


def proxy_internal_port(project: str, host: str | None = None) -> int:
    """The host port of the project's proxy internal listener (container :8081, on
    127.0.0.1): where /version, /metrics, readiness reasons and /stats are served."""
    label = f"label=com.docker.compose.project={project}"
    ids = docker("ps", "-q", "--filter", label, "--filter",
                 "label=com.docker.compose.service=proxy", host=host)  # fmt: skip
    out = docker("port", ids.split()[0], "8081/tcp", host=host)
    return int(out.splitlines()[0].rsplit(":", 1)[-1])


def remove_host_state(project: str, host: str | None = None) -> None:
    """What a deploy keeps on the host beside the project's containers: the deploy
    lock's volume (and its mutex container), the deploy log's and the token keys'
    containers and volumes (adapters/deploy_lock.py, deploy_log_volume.py,
    key_volumes.py). Compose's labels do not cover them, on purpose, so a test
    stack removes them by name."""
    docker("rm", "-f", f"{project}-deploy-lock", host=host, check=False)
    docker("volume", "rm", "-f", f"{project}-deploy-lock", host=host, check=False)
    docker("rm", "-f", f"{project}-deploy-log", host=host, check=False)
    docker("volume", "rm", "-f", f"{project}-deploy-log", host=host, check=False)
    for keys in ("signing-keys", "public-keys"):  # adapters/key_volumes.py
        docker("rm", "-f", f"{project}-{keys}", host=host, check=False)
        docker("volume", "rm", "-f", f"{project}-{keys}", host=host, check=False)


def inv(
    *args: str, env: dict | None = None, timeout: float = 600, cwd: Path = ROOT
) -> subprocess.CompletedProcess:
    """`./inv ARGS` in `cwd` with this environment plus `env`; never raises on exit."""
    return subprocess.run(
        [INV, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
