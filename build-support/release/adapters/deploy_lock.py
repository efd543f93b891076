"""The deploy lock: one deploy at a time per Compose project (environment) and host.

The lock lives on the Docker host itself, so it holds whoever deploys and from where
(a laptop, CI, over ssh://): it is a container that is created but never started,
named after the project. The engine creates a container name at most once, so taking
the lock is one atomic call, and a second deploy fails at once with the holder, the
time since and the version from the lock's labels. The container runs nothing; its
image is an empty one imported on first use (no pull needed).

A lock whose holder process is gone (killed, crashed) on this same machine is stale
and taken over with a notice; one held from another machine is only released by
`./inv lock release`.
"""

from __future__ import annotations

import datetime as dt
import getpass
import io
import os
import socket
import tarfile
from dataclasses import dataclass

from release.base.errors import LockError  # noqa: F401 (raised here, named there)

LOCK_IMAGE = "ecotrack/deploy-lock:1"
PREFIX = "io.ecotrack.lock"


def lock_name(project: str) -> str:
    return f"{project}-deploy-lock"


@dataclass(frozen=True)
class LockInfo:
    project: str
    env: str
    holder: str  # who: user@machine, or the CI actor and run
    machine: str
    pid: int
    pid_start: str  # the holder process's start time, so a reused pid is not "alive"
    since: str  # ISO 8601, UTC
    version: str  # what the holder is deploying
    container_id: str = ""
    message: str = ""  # set when held on purpose (`./inv lock hold -m`)

    def labels(self) -> dict[str, str]:
        return {
            f"{PREFIX}": "1",
            f"{PREFIX}.project": self.project,
            f"{PREFIX}.env": self.env,
            f"{PREFIX}.holder": self.holder,
            f"{PREFIX}.machine": self.machine,
            f"{PREFIX}.pid": str(self.pid),
            f"{PREFIX}.pid-start": self.pid_start,
            f"{PREFIX}.since": self.since,
            f"{PREFIX}.version": self.version,
            f"{PREFIX}.message": self.message,
        }

    @classmethod
    def from_labels(cls, labels: dict, container_id: str = "") -> "LockInfo":
        def get(key: str) -> str:
            return labels.get(f"{PREFIX}.{key}", "")

        return cls(
            project=get("project"),
            env=get("env"),
            holder=get("holder") or "unknown",
            machine=get("machine"),
            pid=int(get("pid") or 0),
            pid_start=get("pid-start"),
            since=get("since"),
            version=get("version"),
            container_id=container_id,
            message=get("message"),
        )

    def describe(self, now: dt.datetime | None = None) -> str:
        age = ""
        try:
            since = dt.datetime.fromisoformat(self.since)
            seconds = int(((now or _now()) - since).total_seconds())
            age = f" ({_age(seconds)} ago)"
        except ValueError:
            pass
        if self.message:
            return (
                f"held on purpose by {self.holder} since {self.since}{age}: "
                f"{self.message}"
            )
        return (
            f"held by {self.holder} (pid {self.pid} on {self.machine}) "
            f"since {self.since}{age}, deploying {self.version}"
        )

    def to_dict(self) -> dict:
        return {
            "project": self.project,
            "env": self.env,
            "holder": self.holder,
            "machine": self.machine,
            "pid": self.pid,
            "since": self.since,
            "version": self.version,
            "message": self.message,
        }


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _age(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def process_start(pid: int) -> str:
    """The start time of `pid` in clock ticks since boot ("" if it does not exist)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return ""
    return text.rsplit(")", 1)[1].split()[19]


def holder_alive(info: LockInfo, machine: str) -> bool:
    """False only when we can tell: same machine and the process is gone. A lock held
    on purpose has no process: it lives until `./inv lock release`."""
    if info.message or info.machine != machine:
        return True
    start = process_start(info.pid)
    return bool(start) and (not info.pid_start or start == info.pid_start)


def who() -> str:
    if os.environ.get("GITHUB_ACTIONS") == "true":
        return (
            f"{os.environ.get('GITHUB_ACTOR', 'ci')} "
            f"(GitHub Actions run {os.environ.get('GITHUB_RUN_ID', '?')})"
        )
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def mine(project: str, env: str, version: str) -> LockInfo:
    return LockInfo(
        project=project,
        env=env,
        holder=who(),
        machine=socket.gethostname(),
        pid=os.getpid(),
        pid_start=process_start(os.getpid()),
        since=_now().isoformat(),
        version=version,
    )


def on_purpose(project: str, env: str, message: str) -> LockInfo:
    """A lock taken by hand (an incident, a freeze): no process holds it."""
    return LockInfo(
        project=project,
        env=env,
        holder=who(),
        machine=socket.gethostname(),
        pid=0,
        pid_start="",
        since=_now().isoformat(),
        version="nothing",
        message=message,
    )


# -- on the engine ------------------------------------------------------------------


def _ensure_image(client) -> None:
    import docker

    try:
        client.images.get(LOCK_IMAGE)
    except docker.errors.ImageNotFound:
        empty = io.BytesIO()
        with tarfile.open(fileobj=empty, mode="w"):
            pass
        repository, tag = LOCK_IMAGE.rsplit(":", 1)
        client.api.import_image_from_data(
            empty.getvalue(), repository=repository, tag=tag
        )


def status(client, project: str) -> LockInfo | None:
    import docker

    try:
        c = client.containers.get(lock_name(project))
    except docker.errors.NotFound:
        return None
    return LockInfo.from_labels(c.labels, c.id)


def acquire(client, info: LockInfo, on_stale=None) -> LockInfo:
    """Takes the lock or raises LockError naming who holds it."""
    import docker

    _ensure_image(client)
    for _ in range(2):
        try:
            c = client.containers.create(
                LOCK_IMAGE,
                command=["locked"],
                name=lock_name(info.project),
                labels=info.labels(),
            )
            return LockInfo.from_labels(c.labels, c.id)
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                raise LockError(f"cannot take the deploy lock: {exc}") from None
        held = status(client, info.project)
        if held is None:
            continue  # released between our two calls: try once more
        if held.message:
            raise LockError(
                f"deploys of {info.project} are held: {held.describe()}; "
                f"./inv lock release --env {info.env} lets them go on"
            )
        if holder_alive(held, info.machine):
            raise LockError(
                f"another deploy of {info.project} is running: {held.describe()}; "
                f"if it is stuck: ./inv lock release --env {info.env}"
            )
        if on_stale:
            on_stale(held)
        _remove(client, held.container_id)
    raise LockError(f"could not take the deploy lock of {info.project}; try again")


def _remove(client, container_id: str) -> None:
    import docker

    try:
        client.api.remove_container(container_id, force=True)
    except docker.errors.NotFound:
        pass


def release(client, info: LockInfo) -> None:
    """Releases our own lock (by container ID: never someone else's)."""
    held = status(client, info.project)
    if held and held.container_id == info.container_id:
        _remove(client, info.container_id)


def force_release(client, project: str) -> LockInfo | None:
    held = status(client, project)
    if held:
        _remove(client, held.container_id)
    return held
