"""Makes sure a Docker engine answers, starting or installing one where we safely can.

Order: an engine that already answers (local or DOCKER_HOST) is used as is; an
installed but stopped `dockerd` is started in the background; with no engine at all,
root on Debian/Ubuntu gets Debian's `docker.io`; anywhere else we stop with the exact
instruction, since installing an engine is the user's call.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from release import console
from release.adapters import proc
from release.errors import EngineError

DOCKERD_LOG = Path("/var/log/ecotrack-dockerd.log")
PID_FILE = Path("/var/run/docker.pid")


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        r = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        return False
    return r.returncode == 0


def _is_root() -> bool:
    return os.geteuid() == 0


def _is_debian_like() -> bool:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return False
    return any(word in text for word in ("ID=debian", "ID=ubuntu", "ID_LIKE=debian"))


def _dockerd_running() -> bool:
    return (
        subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True).returncode == 0
    )


def _install_docker_io() -> None:
    console.info("no Docker engine installed: installing Debian's docker.io (apt-get)")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    proc.run(["apt-get", "update", "-q"], env=env, timeout=600)
    proc.run(["apt-get", "install", "-y", "-q", "docker.io"], env=env, timeout=900)


def _start_dockerd() -> None:
    if not _dockerd_running() and PID_FILE.exists():
        # A dockerd killed uncleanly leaves its pid file and the next one refuses.
        PID_FILE.unlink()
    if not _dockerd_running():
        console.info(f"starting dockerd in the background (log: {DOCKERD_LOG})")
        log = open(DOCKERD_LOG, "ab")
        subprocess.Popen(
            ["dockerd"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives this task
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if engine_answers():
            return
        time.sleep(1)
    raise EngineError(f"dockerd did not answer within 60s; see {DOCKERD_LOG}")


def ensure_engine() -> None:
    if engine_answers():
        return
    if os.environ.get("DOCKER_HOST"):
        raise EngineError(
            f"the Docker engine at DOCKER_HOST={os.environ['DOCKER_HOST']} "
            "does not answer"
        )
    if shutil.which("dockerd") is None:
        if not (_is_root() and _is_debian_like() and shutil.which("apt-get")):
            raise EngineError(
                "no Docker engine found: install Docker Engine "
                "(https://docs.docker.com/engine/install/) and start it, then re-run"
            )
        _install_docker_io()
    if not _is_root():
        raise EngineError(
            "dockerd is installed but not running: start it "
            "(e.g. 'sudo systemctl start docker') or run this as root"
        )
    _start_dockerd()
