"""Probes this machine for what the tasks need, and carries out the bootstrap plan.

The decisions live in release/machine/bootstrap.py (pure); this module only looks
(commands on PATH, /etc/os-release, pip configuration files, `docker info`) and acts
(apt-get, removing the site-wide pip constraint, starting dockerd), saying each step it
takes. Idempotent: a second run finds everything and does nothing.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import time
from pathlib import Path

from release.adapters import proc
from release.base import console
from release.base.errors import EngineError
from release.machine import bootstrap

DOCKERD_LOG = Path("/var/log/ecotrack-dockerd.log")
PID_FILE = Path("/var/run/docker.pid")
ENGINE_START_TIMEOUT = 60.0

# Where pip reads configuration (pip's own order: site-wide, user, environment).
PIP_CONFIGS = (
    "/etc/xdg/pip/pip.conf",
    "/etc/pip.conf",
    "~/.config/pip/pip.conf",
    "~/.pip/pip.conf",
)

_done: set[tuple[str, ...]] = set()  # profiles already ensured in this process


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


def _dockerd_running() -> bool:
    return (
        subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True).returncode == 0
    )


def _debian() -> bool:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return False
    like = any(w in text for w in ("ID=debian", "ID=ubuntu", "ID_LIKE=debian"))
    return like and shutil.which("apt-get") is not None


def pip_constraints() -> tuple[str, ...]:
    """pip configuration files that set a `constraint` in any section."""
    paths = [os.path.expanduser(p) for p in PIP_CONFIGS]
    if os.environ.get("PIP_CONFIG_FILE"):
        paths.append(os.environ["PIP_CONFIG_FILE"])
    found = []
    for path in paths:
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        try:
            parser.read(path)
        except configparser.Error:
            continue
        if any(parser.has_option(s, "constraint") for s in parser.sections()):
            found.append(path)
    return tuple(found)


def _sudo_works() -> bool:
    """`sudo -n true` succeeds: root without a password (GitHub's runners)."""
    if shutil.which("sudo") is None:
        return False
    try:
        r = subprocess.run(["sudo", "-n", "true"], capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        return False
    return r.returncode == 0


def _exists(proof: str) -> bool:
    return os.path.exists(proof) if proof.startswith("/") else bool(shutil.which(proof))


def probe(needs: tuple[str, ...]) -> bootstrap.Facts:
    present = frozenset(
        proof
        for proof, _, _ in bootstrap.NEEDS.values()
        if any(_exists(alternative) for alternative in proof.split("|"))
    )
    wants_engine = "docker" in needs
    answers = wants_engine and engine_answers()
    running = wants_engine and not answers and _dockerd_running()
    root = os.geteuid() == 0
    return bootstrap.Facts(
        root=root,
        sudo=not root and _sudo_works(),
        debian=_debian(),
        present=present,
        engine_answers=answers,
        dockerd_running=running,
        stale_pid_file=wants_engine and not running and PID_FILE.exists(),
        docker_host=os.environ.get("DOCKER_HOST", ""),
        pip_constraints=pip_constraints() if "pip" in needs else (),
    )


def ensure(needs: tuple[str, ...]) -> None:
    """Makes the machine ready for `needs` (a bootstrap profile), or raises
    EngineError with the one thing to do by hand."""
    if needs in _done:
        return
    p = bootstrap.plan(probe(needs), needs)
    if p.problems:
        raise EngineError(p.problems[0])
    if not p.ready:
        apply(p)
    _done.add(needs)


def apply(p: bootstrap.Plan) -> None:
    as_root = ["sudo", "-n"] if p.sudo else []
    actions = {
        "sudo": lambda: None,
        "remove_pip_config": lambda: _remove_pip_config(as_root),
        "install": lambda: _apt_install(p.install, as_root),
        "start_dockerd": lambda: _start_dockerd(p.clear_stale_pid, as_root),
    }
    for action, line in bootstrap.steps(p):
        console.info(f"bootstrap: {line}")
        actions[action]()


def _remove_pip_config(as_root: list[str]) -> None:
    if as_root:
        proc.run([*as_root, "rm", "-r", bootstrap.XDG_PIP_DIR])
    else:
        shutil.rmtree(bootstrap.XDG_PIP_DIR)


def _apt_install(packages: tuple[str, ...], as_root: list[str]) -> None:
    # sudo drops the environment: the frontend setting goes on its command line.
    apt = [*as_root, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]
    started = time.monotonic()
    proc.run([*apt, "update", "-q"], timeout=900)
    proc.run([*apt, "install", "-y", "-q", *packages], timeout=1800)
    console.detail(f"installed in {time.monotonic() - started:.0f}s")


def _start_dockerd(clear_stale_pid: bool, as_root: list[str]) -> None:
    if clear_stale_pid and not _dockerd_running():
        # A dockerd killed uncleanly leaves its pid file and the next one refuses.
        proc.run([*as_root, "rm", "-f", str(PID_FILE)])
    if not _dockerd_running():
        console.detail(f"log: {DOCKERD_LOG}")
        # The log is opened by the shell that runs as root, not by this process.
        subprocess.Popen(
            [*as_root, "sh", "-c", f'exec dockerd >> "{DOCKERD_LOG}" 2>&1'],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives this task
        )
    deadline = time.monotonic() + ENGINE_START_TIMEOUT
    while time.monotonic() < deadline:
        if engine_answers():
            return
        time.sleep(1)
    raise EngineError(
        f"dockerd did not answer within {ENGINE_START_TIMEOUT:.0f}s; "
        f"see {DOCKERD_LOG}"
    )
