"""Background processes that outlive the command that starts them, known by pid.

A pid alone is not proof: each is checked against a marker its command line must
contain, so a recycled pid is never signalled. Stops are by pid only.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from release.base.errors import CommandError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(cmd: Sequence[str], log: Path, stdout_pipe: bool = False):
    """Starts `cmd` in a session of its own (it survives this process), output to
    `log` (or a pipe, for a ready line); returns the Popen."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            list(cmd),
            stdout=subprocess.PIPE if stdout_pipe else out,
            stderr=out if stdout_pipe else subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            text=stdout_pipe,
        )


def _reap(pid: int) -> None:
    try:  # our own child: collect it, so it does not linger as a zombie
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def alive(pid: int, marker: str) -> bool:
    if pid <= 0:
        return False
    _reap(pid)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    return marker.encode() in cmdline


def stop(pid: int, marker: str, timeout: float = 30) -> bool:
    """SIGTERM, then SIGKILL after `timeout`; False if it was not running."""
    if not alive(pid, marker):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid, marker):
            return True
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    while alive(pid, marker):
        time.sleep(0.1)
    return True


def answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_until(check: Callable[[], bool], timeout: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return False


def log_tail(log: Path, chars: int = 600) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def wait_port(port: int, what: str, log: Path, timeout: float = 30) -> None:
    if not wait_until(lambda: answers(port), timeout):
        raise CommandError(
            f"{what} does not answer on 127.0.0.1:{port}; {log}: {log_tail(log)}"
        )
