"""The BuildGrid server process behind `./inv cache up|down|status`.

BuildGrid (`bgd`, PyPI `buildgrid==0.4.4`) lives in its own venv under
~/.cache/ecotrack/buildgrid-<version> (XDG_CACHE_HOME), not in the tooling venv: its
pins (grpcio, protobuf, SQLAlchemy, pydantic, ...) would otherwise constrain every
tool we use. The server's state lives in one named directory (default
~/.local/state/ecotrack/cache, XDG_STATE_HOME): config, JWT secret and tokens, ACL,
the disk CAS, pid file, log and statsd metrics.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from release.base import layout
from release.base.errors import ConfigError, ReleaseError
from release.machine import cache

BUILDGRID_VERSION = "0.4.4"
START_TIMEOUT = 90.0


class CacheServerError(ReleaseError):
    """The cache server cannot be installed, started or stopped."""


def default_data_dir() -> Path:
    return layout.state_dir() / "cache"


def bgd_venv() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ecotrack" / f"buildgrid-{BUILDGRID_VERSION}"


def ensure_bgd() -> Path:
    """The `bgd` executable, installed into its own venv on first use."""
    venv = bgd_venv()
    bgd = venv / "bin" / "bgd"
    stamp = venv / ".complete"
    if bgd.exists() and stamp.exists():
        return bgd
    python = _python311()
    try:
        subprocess.run(
            [python, "-m", "venv", "--clear", str(venv)],
            check=True,
            capture_output=True,
            text=True,
        )
        subprocess.run(
            [
                str(venv / "bin" / "pip"),
                "install",
                "--quiet",
                "--disable-pip-version-check",
                f"buildgrid=={BUILDGRID_VERSION}",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-3:]
        raise CacheServerError(
            f"installing buildgrid {BUILDGRID_VERSION} into {venv} failed: "
            + " | ".join(tail)
        ) from None
    if not bgd.exists():
        raise CacheServerError(f"bgd missing from {venv} after installing buildgrid")
    stamp.write_text(BUILDGRID_VERSION + "\n")
    return bgd


def _python311() -> str:
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    raise CacheServerError("BuildGrid needs CPython 3.11 (run it through ./inv)")


@dataclass(frozen=True)
class ServerState:
    pid: int
    host: str
    port: int
    data_dir: Path
    started: float
    tls_cert: str = ""
    tls_key: str = ""

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)

    @property
    def address(self) -> str:
        return f"{'grpcs' if self.tls else 'grpc'}://{self.host}:{self.port}"


def _state_file(data_dir: Path) -> Path:
    return data_dir / "server.json"


def read_state(data_dir: Path) -> ServerState | None:
    try:
        raw = json.loads(_state_file(data_dir).read_text())
        return ServerState(
            pid=int(raw["pid"]),
            host=raw["host"],
            port=int(raw["port"]),
            data_dir=data_dir,
            started=float(raw["started"]),
            tls_cert=raw.get("tls_cert", ""),
            tls_key=raw.get("tls_key", ""),
        )
    except (OSError, ValueError, KeyError):
        return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own exited child not yet reaped) is not a server.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def running(data_dir: Path) -> ServerState | None:
    state = read_state(data_dir)
    if state and alive(state.pid):
        return state
    return None


def port_in_use(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # As gRPC binds: a listener still conflicts, a closed connection's TIME_WAIT
        # (a restart, `rotate`) does not.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def prepare(settings: cache.ServerSettings) -> None:
    """Config, ACL, secret and the two tokens in the data directory (idempotent:
    the secret, and the tokens while valid for another day, are kept across
    restarts; a token minted for longer than the cap is replaced)."""
    cache.check_settings(settings)
    data = Path(settings.data_dir)
    Path(settings.cas_dir).mkdir(parents=True, exist_ok=True)
    os.chmod(data, 0o700)
    secret_path = Path(settings.secret_path)
    if not secret_path.exists():
        _write_private(secret_path, secrets.token_hex(32))
    secret = secret_path.read_text().strip().encode()
    for role in cache.ROLES:
        token_path = Path(settings.token_path(role))
        if not _token_valid(token_path, secret, role):
            token = cache.mint_token(secret, role, settings.token_days)
            _write_private(token_path, token)
    Path(settings.acl_path).write_text(cache.acl_config())
    (data / "bgd.yml").write_text(cache.server_config(settings))


def _token_valid(path: Path, secret: bytes, role: str) -> bool:
    try:
        token = path.read_text().strip()
        claims = cache.token_claims(token)
    except (OSError, cache.CacheConfigError):
        return False
    exp, iat = float(claims.get("exp", 0)), float(claims.get("iat", 0))
    if claims.get("sub") != role or exp < time.time() + 86400:
        return False
    if exp - iat > cache.MAX_TOKEN_DAYS * 86400:
        return False
    # Signed with this secret (the secret may have been replaced).
    return cache.verify_token(secret, token)


def rotate(settings: cache.ServerSettings, bgd: Path | None) -> ServerState | None:
    """A new secret and new tokens; every token signed with the old secret is refused
    from now on. BuildGrid reads the secret when it starts, so a running server is
    restarted (same settings); returns it, or None when none was running."""
    data = Path(settings.data_dir)
    was = running(data)
    if was is not None:
        stop(data)
        settings = dataclasses.replace(
            settings,
            host=was.host,
            port=was.port,
            tls_cert=was.tls_cert,
            tls_key=was.tls_key,
        )
    _write_private(Path(settings.secret_path), secrets.token_hex(32))
    for role in cache.ROLES:
        Path(settings.token_path(role)).unlink(missing_ok=True)
    if was is None or bgd is None:
        prepare(settings)
        return None
    return start(settings, bgd)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")


def start(settings: cache.ServerSettings, bgd: Path) -> ServerState:
    cache.check_settings(settings)
    data = Path(settings.data_dir)
    if running(data):
        raise CacheServerError(
            f"a cache server already runs from {data} (./inv cache down first)"
        )
    if port_in_use(settings.host, settings.port):
        raise CacheServerError(
            f"port {settings.port} on {settings.host} is in use (choose --port)"
        )
    prepare(settings)
    log = open(data / "server.log", "ab")
    try:
        proc = subprocess.Popen(
            [str(bgd), "server", "start", str(data / "bgd.yml")],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=data,
            start_new_session=True,
        )
    except OSError as exc:
        raise CacheServerError(f"cannot run {bgd}: {exc}") from None
    finally:
        log.close()
    state = ServerState(
        proc.pid,
        settings.host,
        settings.port,
        data,
        time.time(),
        settings.tls_cert if settings.tls else "",
        settings.tls_key if settings.tls else "",
    )
    _state_file(data).write_text(
        json.dumps(
            {
                "pid": state.pid,
                "host": state.host,
                "port": state.port,
                "started": state.started,
                "tls_cert": state.tls_cert,
                "tls_key": state.tls_key,
                "version": BUILDGRID_VERSION,
            }
        )
    )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CacheServerError(
                f"bgd exited with {proc.returncode} while starting: " + _log_tail(data)
            )
        if cache.reachable(settings.host, settings.port, timeout=0.5):
            return state
        time.sleep(0.3)
    stop(data)
    raise CacheServerError(
        f"bgd did not listen on {settings.host}:{settings.port} within "
        f"{START_TIMEOUT:.0f}s: " + _log_tail(data)
    )


def _log_tail(data: Path) -> str:
    try:
        lines = (data / "server.log").read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    interesting = [ln for ln in lines if ln.strip()][-3:]
    return " | ".join(interesting) or "(empty log)"


def stop(data_dir: Path, timeout: float = 15.0) -> ServerState | None:
    """Stop the server started from data_dir; None when none was running."""
    state = running(data_dir)
    if state is None:
        _state_file(data_dir).unlink(missing_ok=True)
        return None
    try:
        os.killpg(state.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    except PermissionError as exc:
        raise CacheServerError(f"cannot stop pid {state.pid}: {exc}") from None
    deadline = time.monotonic() + timeout
    while alive(state.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if alive(state.pid):
        try:
            os.killpg(state.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _state_file(data_dir).unlink(missing_ok=True)
    return state


@dataclass(frozen=True)
class Usage:
    cas_bytes: int
    cas_blobs: int
    hits: int
    misses: int
    writes: int
    denied: int

    @property
    def hit_rate(self) -> float | None:
        total = self.hits + self.misses
        return self.hits / total if total else None


def usage(data_dir: Path) -> Usage:
    size = blobs = 0
    objects = data_dir / "cas"
    if objects.exists():
        for root, _, files in os.walk(objects):
            for name in files:
                try:
                    size += os.path.getsize(os.path.join(root, name))
                    blobs += 1
                except OSError:
                    pass
    try:
        metrics = (data_dir / "metrics.statsd").read_text(errors="replace")
    except OSError:
        metrics = ""
    counts = cache.action_cache_counts(metrics)
    return Usage(size, blobs, **counts)


def require_data_dir(data_dir: Path) -> Path:
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(f"cache data dir {data_dir} exists and is not a directory")
    return data_dir
