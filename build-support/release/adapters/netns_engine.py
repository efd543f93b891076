"""A Docker engine in a network namespace of its own: `ip netns`, a dockerd entered
into the namespace only, its socket, its teardown.

Why a namespace: a second dockerd beside the main one in the same namespace deletes
the main engine's docker0 bridge when it restarts (found the hard way). Entered with
`nsenter --net` only (`ip netns exec` also remounts /sys, which dockerd dislikes),
with its own data root, exec root, pidfile, config and socket, `--iptables=false`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from release.adapters import daemons
from release.base.errors import CommandError, EngineError

START_TIMEOUT = 120.0  # a loaded machine: dockerd has taken over a minute here


def netns_exists(name: str) -> bool:
    return Path(f"/run/netns/{name}").exists()


def add_netns(name: str) -> None:
    if not netns_exists(name):
        _ip("netns", "add", name)
    _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")


def del_netns(name: str) -> None:
    if netns_exists(name):
        _ip("netns", "del", name)


def _ip(*args: str) -> None:
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise CommandError(f"ip {' '.join(args[:3])}: {r.stderr.strip()}")


def start_dockerd(
    netns: str, root: Path, run_dir: Path, data_root: Path, config: dict
) -> int:
    """Starts the engine (not waiting for it); returns its pid."""
    root.mkdir(parents=True, exist_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    (root / "daemon.json").write_text(json.dumps(config) + "\n")
    proc = daemons.spawn(
        [
            "nsenter",
            f"--net=/run/netns/{netns}",
            "dockerd",
            "--config-file",
            str(root / "daemon.json"),
            "--data-root",
            str(data_root),
            "--exec-root",
            str(run_dir / "exec"),
            "--pidfile",
            str(run_dir / "docker.pid"),
            "--host",
            socket_of(run_dir),
            "--iptables=false",
        ],
        root / "dockerd.log",
    )
    return proc.pid


def socket_of(run_dir: Path) -> str:
    return f"unix://{run_dir / 'docker.sock'}"


def engine_answers(socket: str) -> bool:
    probe = ["docker", "-H", socket, "version", "--format", "{{.Server.Version}}"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def wait_engine(name: str, socket: str, log: Path) -> None:
    if not daemons.wait_until(lambda: engine_answers(socket), START_TIMEOUT, 0.5):
        raise EngineError(
            f"{name}'s dockerd did not answer within {START_TIMEOUT:.0f}s: "
            + daemons.log_tail(log, 1500)
        )


def docker(socket: str, *args: str, check: bool = True) -> str:
    r = subprocess.run(
        ["docker", "-H", socket, *args], capture_output=True, text=True, timeout=300
    )
    if check and r.returncode != 0:
        raise CommandError(f"docker {' '.join(args[:2])}: {r.stderr.strip()}")
    return r.stdout.strip()


def stop_engine(pid: int, socket: str, timeout: float = 90) -> None:
    """Containers first, so dockerd exits quickly and leaves no shims behind."""
    if daemons.alive(pid, socket):
        ids = docker(socket, "ps", "-aq", check=False).split()
        if ids:
            docker(socket, "rm", "-f", *ids, check=False)
    daemons.stop(pid, socket, timeout)


def remove_dirs(*paths: Path) -> None:
    for p in paths:
        shutil.rmtree(p, ignore_errors=True)
