"""An ssh:// Docker host as a unix socket on this machine, so every client of it (the
docker SDK, Compose, the docker CLI) keeps its connections alive.

Each connection to the socket is carried by `ssh [-l USER] [-p PORT] -- HOST docker
system dial-stdio`, exactly what the docker CLI and the SDK run for ssh://: the
remote side, its DOCKER_HOST and the user's ssh config (keys, known_hosts,
ControlMaster) are theirs, and a host the docker CLI reaches is reached here.

Why: the SDK's own ssh transport starts that ssh for every HTTP request, since it
never reuses a connection (docker/docker-py#2966). One roll of one service on a
remote host made about 60 of them, 0.3-1 s each: 30-40 s per host where the same
roll on a local engine takes 3-5 s. Through the socket the SDK's connection pool
reuses connections, and only a stream that takes a connection over (exec, attach,
logs) opens another.

A bridge lives as long as this process: the socket's directory is private (0700),
each ssh dies with the thread that carries its connection (PR_SET_PDEATHSIG), and
everything is removed at exit.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from release.base.errors import EngineError

PR_SET_PDEATHSIG = 1
CHUNK = 65536


@dataclass(frozen=True)
class SshTarget:
    user: str
    host: str
    port: str

    @classmethod
    def parse(cls, endpoint: str) -> "SshTarget":
        url = urlsplit(endpoint)
        if url.scheme != "ssh" or not url.hostname:
            raise EngineError(f"not an ssh:// Docker host: {endpoint!r}")
        return cls(url.username or "", url.hostname, str(url.port or ""))

    def dial_command(self) -> list[str]:
        args = ["ssh"]
        args += ["-l", self.user] if self.user else []
        args += ["-p", self.port] if self.port else []
        return args + ["--", self.host, "docker", "system", "dial-stdio"]


_prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before any fork


def _die_with_parent_thread() -> None:
    # Runs in the child before exec (no lookups, no locks): ssh ends when the thread
    # carrying its connection does, and ignores the terminal's Ctrl-C as the SDK's.
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Bridge:
    """A listening unix socket whose connections are carried to `endpoint`."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.target = SshTarget.parse(endpoint)
        self.dir = Path(tempfile.mkdtemp(prefix="ecotrack-docker-"))
        self.path = self.dir / "docker.sock"
        self.errors: deque[str] = deque(maxlen=5)  # ssh's last stderr lines
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(self.path))
        self._server.listen(64)
        self._closed = False
        threading.Thread(target=self._accept, name="ssh-bridge", daemon=True).start()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def last_error(self) -> str:
        return self.errors[-1] if self.errors else ""

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return  # closed
            threading.Thread(
                target=self._carry, args=(conn,), name="ssh-bridge-conn", daemon=True
            ).start()

    def _carry(self, conn: socket.socket) -> None:
        try:
            proc = subprocess.Popen(
                self.target.dial_command(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                preexec_fn=_die_with_parent_thread,
                env={
                    k: v
                    for k, v in os.environ.items()
                    if k not in ("LD_LIBRARY_PATH", "SSL_CERT_FILE")
                },
            )
        except OSError as exc:
            self.errors.append(f"cannot run ssh: {exc}")
            conn.close()
            return
        up = threading.Thread(target=self._upstream, args=(conn, proc), daemon=True)
        err = threading.Thread(target=self._stderr, args=(proc,), daemon=True)
        up.start()
        err.start()
        try:
            while True:
                data = proc.stdout.read1(CHUNK)
                if not data:
                    break
                conn.sendall(data)
        except OSError:
            pass
        finally:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            up.join(timeout=5)
            err.join(timeout=5)

    @staticmethod
    def _upstream(conn: socket.socket, proc: subprocess.Popen) -> None:
        try:
            while True:
                data = conn.recv(CHUNK)
                if not data:
                    break
                proc.stdin.write(data)
                proc.stdin.flush()
        except (OSError, ValueError):
            pass
        finally:
            try:
                proc.stdin.close()
            except (OSError, ValueError):
                pass

    def _stderr(self, proc: subprocess.Popen) -> None:
        for line in proc.stderr:
            text = line.decode(errors="replace").strip()
            if text:
                self.errors.append(text)

    def close(self) -> None:
        self._closed = True
        try:
            self._server.close()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


_bridges: dict[str, Bridge] = {}
_lock = threading.Lock()


def bridge(endpoint: str) -> Bridge:
    """The one bridge of this process to `endpoint` (an ssh:// URL)."""
    with _lock:
        if endpoint not in _bridges:
            _bridges[endpoint] = Bridge(endpoint)
        return _bridges[endpoint]


@atexit.register
def _close_all() -> None:
    for b in list(_bridges.values()):
        b.close()
    _bridges.clear()
