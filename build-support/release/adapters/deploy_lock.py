"""The deploy lock: one deploy at a time per Compose project (environment).

A lease with a fencing token, kept on the Docker host itself so it holds whoever
deploys and from where (a laptop, CI, over ssh://).

Where it lives. The lock's state is one JSON file, `lease.json`, in a labelled named
volume, `<project>-deploy-lock`: the holder, its message, its lease (seconds) and
when the holder last renewed it, and the fencing token. `docker container prune`
removes containers, never a named volume, so a prune leaves the lock held and the
token counting on. The file is read and written through the archive API of a
container that is created, never started (the empty image `ensure_image` imports:
nothing is pulled, nothing runs).

The atomic step. That container is also the mutex: it is created by name,
`<project>-deploy-lock`, for one read-decide-write of the file and removed (by ID)
right after, a few milliseconds. The engine creates a name at most once, so two
deployers never decide at the same time; the other one retries until the name is
free. A container left by a process killed inside those milliseconds is removed once
it has stood unchanged for MUTEX_STALE seconds. The time a transaction decides by is
the Docker engine's (the container's creation time), the one clock every deployer
shares, so a holder on another machine expires like any other.

The lease. A deploy holds it for `lease` seconds and renews it from a heartbeat
thread every lease/3 (Lease); once it has not been renewed for `lease` seconds
another deploy takes it over with a notice, and `--force` takes it at once from a
live holder, with a warning naming it. Every acquisition increments the token; it
survives release and prune. `./inv lock hold -m` holds it on purpose with no expiry
until `./inv lock release` (not even --force takes a hold).

Fencing. The engine asks Lease.check() before each step and each call that changes
the host (engine/engine.py): a holder that was paused past its lease (SIGSTOP, a
frozen VM) and taken over finds another token current and stops, raising LockLost,
without touching the host. The check compares the holder's own nonce as well as
the token, so even if a prune removed the mutex in the middle of someone's
transaction, at most one of two such winners passes its first check.
"""

from __future__ import annotations

import datetime as dt
import getpass
import io
import json
import os
import random
import socket
import tarfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace

from release.base.errors import LockError, LockLost

LOCK_IMAGE = "ecotrack/deploy-lock:1"
LABEL = "io.ecotrack.lock"
MOUNT = "/lock"  # where the volume sits in the (never started) mutex container
STATE = "lease.json"
DEFAULT_LEASE = 60.0  # seconds a deploy's lease lasts without a heartbeat
MUTEX_STALE = 10.0  # a mutex unchanged this long was left by a killed process
MUTEX_WAIT = 30.0  # give up taking the mutex after this long


def lock_name(project: str) -> str:
    """The volume keeping the state, and the mutex container's name."""
    return f"{project}-deploy-lock"


@dataclass(frozen=True)
class LockInfo:
    project: str
    env: str
    holder: str  # who: user@machine, or the CI actor and run
    machine: str
    pid: int
    since: str  # ISO 8601, UTC
    version: str  # what the holder is deploying
    message: str = ""  # set when held on purpose (`./inv lock hold -m`)
    lease: float = DEFAULT_LEASE  # seconds; 0: no expiry (held on purpose)
    token: int = 0  # the fencing token: +1 at every acquisition
    nonce: str = ""  # this acquisition's own id
    renewed: float = 0.0  # the engine's clock at the last renewal (epoch s)
    held: bool = True  # False once released (the token stays)
    ended_by: str = ""  # who released it
    seen: float = 0.0  # the engine's clock when this was read (not stored)

    def expired(self, now: float | None = None) -> bool:
        return bool(self.lease) and (now or self.seen) > self.renewed + self.lease

    def to_json(self) -> str:
        doc = asdict(self)
        doc.pop("seen")
        return json.dumps(doc, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, seen: float = 0.0) -> "LockInfo":
        doc = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in known}, seen=seen)

    def lease_state(self) -> str:
        if not self.lease:
            return ""
        left = self.renewed + self.lease - self.seen if self.seen else self.lease
        if left < 0:
            return f"; lease expired {_age(int(-left))} ago"
        return f"; lease {self.lease:g}s, {_age(int(left))} left"

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
                f"{self.message} (token {self.token})"
            )
        return (
            f"held by {self.holder} (pid {self.pid} on {self.machine}) "
            f"since {self.since}{age}, deploying {self.version} "
            f"(token {self.token}{self.lease_state()})"
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
            "token": self.token,
            "lease_s": self.lease,
            "expired": self.expired() if self.seen else False,
        }


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _age(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


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


def mine(
    project: str, env: str, version: str, lease: float = DEFAULT_LEASE
) -> LockInfo:
    return LockInfo(
        project=project,
        env=env,
        holder=who(),
        machine=socket.gethostname(),
        pid=os.getpid(),
        since=_now().isoformat(),
        version=version,
        lease=lease,
    )


def on_purpose(project: str, env: str, message: str) -> LockInfo:
    """A lock taken by hand (an incident, a freeze): no process renews it and it
    does not expire."""
    return replace(mine(project, env, "nothing"), pid=0, message=message, lease=0.0)


# -- on the engine ------------------------------------------------------------------


def ensure_image(client) -> None:
    """The empty image the lock's and the deploy log's containers are created from
    (imported, never pulled; they never start)."""
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


def _engine_time(created: str) -> float:
    """Docker's `Created` ("2026-12-03T17:58:01.123456789Z") as epoch seconds."""
    head, _, frac = created.rstrip("Z").partition(".")
    base = dt.datetime.fromisoformat(head).replace(tzinfo=dt.timezone.utc)
    return base.timestamp() + float(f"0.{frac[:6] or 0}")


def _take_mutex(client, project: str) -> tuple[str, float]:
    """Creates the mutex container (the volume mounted); its ID and the engine's
    time. Waits while another transaction holds it."""
    import docker

    name = lock_name(project)
    labels = {LABEL: "1", f"{LABEL}.project": project}
    deadline = time.monotonic() + MUTEX_WAIT
    seen_id, seen_since = "", 0.0
    while True:
        try:
            cid = client.api.create_container(
                LOCK_IMAGE,
                command=["lock"],
                name=name,
                labels=labels,
                host_config=client.api.create_host_config(
                    binds={name: {"bind": MOUNT, "mode": "rw"}}
                ),
            )["Id"]
            created = client.api.inspect_container(cid)["Created"]
            return cid, _engine_time(created)
        except docker.errors.ImageNotFound:
            ensure_image(client)
            continue
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                raise LockError(f"cannot take the deploy lock: {exc}") from None
        try:
            other = client.api.inspect_container(name)["Id"]
        except docker.errors.NotFound:
            continue
        if other != seen_id:
            seen_id, seen_since = other, time.monotonic()
        elif time.monotonic() - seen_since > MUTEX_STALE:
            _remove(client, other)  # left by a process killed mid-transaction
            continue
        if time.monotonic() > deadline:
            raise LockError(f"could not take the deploy lock of {project}; try again")
        time.sleep(random.uniform(0.01, 0.05))


def _read(client, cid: str, seen: float) -> LockInfo | None:
    import docker

    try:
        stream, _ = client.api.get_archive(cid, f"{MOUNT}/{STATE}")
    except docker.errors.NotFound:
        return None  # never taken on this host
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.next()
        return LockInfo.from_json(tar.extractfile(member).read().decode(), seen)


def _write(client, cid: str, info: LockInfo) -> None:
    data = (info.to_json() + "\n").encode()
    member = tarfile.TarInfo(STATE)
    member.size, member.mode, member.mtime = len(data), 0o644, int(time.time())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.addfile(member, io.BytesIO(data))
    if not client.api.put_archive(cid, MOUNT, buf.getvalue()):
        raise LockError("cannot write the deploy lock's state on the host")


def transaction(
    client,
    project: str,
    change: Callable[[LockInfo | None, float], LockInfo | None],
    create: bool = True,
) -> LockInfo | None:
    """One read-decide-write of the state under the mutex: `change(state, now)`
    (now: the engine's clock) returns the new state to write, or None to write
    nothing, or raises to refuse. Returns what it wrote, else what it read."""
    import docker

    if not create:
        try:
            client.volumes.get(lock_name(project))
        except docker.errors.NotFound:
            return None  # never taken on this host: nothing to read
    else:
        labels = {LABEL: "1", f"{LABEL}.project": project}
        client.volumes.create(lock_name(project), labels=labels)  # idempotent
    cid, now = _take_mutex(client, project)
    try:
        state = _read(client, cid, now)
        new = change(state, now)
        if new is not None:
            _write(client, cid, new)
            return replace(new, seen=now)
        return state
    finally:
        _remove(client, cid)


def state(client, project: str) -> LockInfo | None:
    """The state as it is (held or released), None when never taken here."""
    return transaction(client, project, lambda s, now: None, create=False)


def status(client, project: str) -> LockInfo | None:
    """The holder, None when the lock is free."""
    found = state(client, project)
    return found if found is not None and found.held else None


def acquire(
    client,
    info: LockInfo,
    on_takeover: Callable[[str], None] | None = None,
    force: bool = False,
) -> LockInfo:
    """Takes the lock (the next token) or raises LockError naming who holds it. An
    expired lease is taken over, and with `force` a live one: `on_takeover(line)`
    says so. A hold on purpose is only lifted by `./inv lock release`."""
    said: list[str] = []

    def take(held: LockInfo | None, now: float) -> LockInfo:
        if held is not None and held.held:
            if held.message:
                raise LockError(
                    f"deploys of {info.project} are held: {held.describe()}; "
                    f"./inv lock release --env {info.env} lets them go on"
                )
            if not held.expired(now):
                if not force:
                    raise LockError(
                        f"another deploy of {info.project} is running: "
                        f"{held.describe()}; if it is stuck, wait for its lease to "
                        f"expire, or take it now: ./inv deploy --env {info.env} --force"
                    )
                said.append(
                    f"warning: --force: taking the deploy lock of {info.project} "
                    f"from a live holder: {held.describe()}"
                )
            else:
                said.append(f"taking over an expired deploy lock: {held.describe()}")
        token = (held.token if held else 0) + 1
        return replace(
            info,
            token=token,
            nonce=uuid.uuid4().hex,
            renewed=now,
            held=True,
            ended_by="",
        )

    got = transaction(client, info.project, take)
    for line in said:
        if on_takeover:
            on_takeover(f"{line} (token {got.token - 1} → {got.token})")
    return got


def _lost(mine: LockInfo, found: LockInfo | None) -> LockLost:
    if found is not None and found.token > mine.token:
        why = f"taken over by {found.holder} (token {found.token} > {mine.token})"
    elif found is not None and found.nonce == mine.nonce:
        why = f"released by {found.ended_by or 'someone'} (token {mine.token})"
    else:
        why = f"its state on the host is gone (token {mine.token})"
    return LockLost(f"deploy lock lost: {why}")


def _ours(mine: LockInfo, found: LockInfo | None) -> bool:
    return found is not None and found.held and found.nonce == mine.nonce


def check(client, mine: LockInfo) -> None:
    """Raises LockLost unless `mine` is still the current holder (the fencing
    check). An expired lease nobody took over is still ours."""
    found = state(client, mine.project)
    if not _ours(mine, found):
        raise _lost(mine, found)


def renew(client, mine: LockInfo) -> LockInfo:
    """Extends our lease from the engine's now; LockLost when it is not ours."""

    def extend(found: LockInfo | None, now: float) -> LockInfo:
        if not _ours(mine, found):
            raise _lost(mine, found)
        return replace(found, renewed=now)

    return transaction(client, mine.project, extend)


def _remove(client, container_id: str) -> None:
    import docker

    try:
        client.api.remove_container(container_id, force=True)
    except docker.errors.NotFound:
        pass


def release(client, info: LockInfo) -> None:
    """Releases our own lock (by its nonce: never someone else's); the token
    stays for the next holder to count on from."""

    def give_back(found: LockInfo | None, now: float) -> LockInfo | None:
        if not _ours(info, found):
            return None
        return replace(found, held=False, ended_by=found.holder)

    transaction(client, info.project, give_back, create=False)


def force_release(client, project: str) -> LockInfo | None:
    """Releases whoever holds it (`./inv lock release`); the holder it had."""
    had: list[LockInfo] = []

    def let_go(found: LockInfo | None, now: float) -> LockInfo | None:
        if found is None or not found.held:
            return None
        had.append(found)
        return replace(found, held=False, ended_by=who())

    transaction(client, project, let_go, create=False)
    return had[0] if had else None


class Lease:
    """A deploy's hold on the lock: renewed every lease/3 by a heartbeat thread
    until `release()`; `check()` is the engine's fencing check."""

    def __init__(self, client, info: LockInfo, every: float | None = None):
        self.client, self.info = client, info
        self.every = every if every is not None else max(0.2, info.lease / 3)
        # A check this soon after the last confirmation is answered without asking
        # the engine; a pause (SIGSTOP) moves the monotonic clock past it.
        self.fresh = min(0.5, info.lease / 10) if info.lease else 0.0
        self.confirmed = time.monotonic()
        self.lost: LockLost | None = None
        self._stop = threading.Event()
        self._asking = threading.Lock()
        self._thread = threading.Thread(
            target=self._beat, name="deploy-lock-heartbeat", daemon=True
        )

    def start(self) -> "Lease":
        if self.info.lease:
            self._thread.start()
        return self

    def describe(self) -> str:
        return self.info.describe()

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                with self._asking:
                    renew(self.client, self.info)
                    self.confirmed = time.monotonic()
            except LockLost as exc:
                self.lost = exc
                return
            except Exception:  # noqa: BLE001 (the engine hiccupped: try next beat)
                continue

    def check(self) -> None:
        if self.lost is not None:
            raise self.lost
        if time.monotonic() - self.confirmed < self.fresh:
            return
        with self._asking:
            try:
                check(self.client, self.info)
            except LockLost as exc:
                self.lost = exc
                raise
            self.confirmed = time.monotonic()

    def release(self) -> None:
        import docker

        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        try:
            release(self.client, self.info)
        except (LockError, docker.errors.DockerException, OSError):
            pass  # the engine is unreachable: unrenewed, the lease expires anyway
