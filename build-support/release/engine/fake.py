"""An in-memory container platform for unit tests of the engine (no Docker).

It behaves like one Compose project behind the HAProxy of gitops/proxy: `create`
labels new containers with the configuration the deploy asked for, a started
container turns healthy after one look (`turns_healthy_after`) and answers its
health check at once unless its configuration fails (so does the proxy's own
check), and the proxy's server slots follow the running containers as Docker's DNS
discovery would (a new replica takes the first free slot, whatever its admin state;
a removed one leaves its slot empty).

`kill_after=N` makes the (N+1)th platform call raise Killed before it does anything:
a SIGKILL between two calls. Killed is a BaseException, so no abort runs.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from release.base.errors import EngineError
from release.model.live import LiveContainer, LiveState
from release.model.proxy import (
    ADMIN_FDRAIN,
    ADMIN_FMAINT,
    ADMIN_RMAINT,
    OP_RUNNING,
    OP_STOPPED,
    Server,
)

SLOTS = 10  # server-template slots per backend, as in gitops/proxy/haproxy.cfg
ADMIN = {"ready": 0, "maint": ADMIN_FMAINT, "drain": ADMIN_FDRAIN}


class Killed(BaseException):
    """The deploy process died here (SIGKILL): nothing after this point runs."""


@dataclass
class Slot:
    name: str
    addr: str = ""
    forced: int = 0  # ADMIN_FMAINT / ADMIN_FDRAIN, as set through the admin API


@dataclass
class FakePlatform:
    config: Mapping[str, str]  # service → the config hash `create` labels with
    proxied: tuple[str, ...] = ()  # services behind the proxy (its backends)
    host: str = "fake"
    kill_after: int | None = None
    failing: frozenset[str] = frozenset()  # config hashes that turn unhealthy
    latency: float = 0.0  # seconds each call takes (lanes then overlap in time)
    calls: int = 0
    log: list[str] = field(default_factory=list)
    _containers: dict[str, LiveContainer] = field(default_factory=dict)
    _looks: dict[str, int] = field(default_factory=dict)  # inspections since start
    _slots: dict[str, list[Slot]] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.RLock = field(default_factory=threading.RLock)
    proxy_calls_at_once: int = 0  # the most admin calls that overlapped (must be 1)
    checks_run: int = 0
    turns_healthy_after: int = 1  # inspections after its start until Docker says so
    load_said: str = ""  # what load() answers
    one_port: frozenset[str] = frozenset()  # services publishing one fixed port
    _in_admin: int = 0

    def __post_init__(self) -> None:
        for backend in self.proxied:
            self._slots[backend] = [Slot(f"{backend}{i}") for i in range(1, SLOTS + 1)]

    # -- setting up and looking (not platform calls) -----------------------------------

    def add(self, service: str, config_hash: str, running: bool = True) -> str:
        """A container as an earlier deploy left it (healthy when running)."""
        cid = self._new(service, config_hash)
        if running:
            self._start(cid)
            self._looks[cid] = 1
        return cid

    def make_slow(self, cid: str) -> None:
        """Docker calls it unhealthy, its checks having run out of time, but it
        answers when asked with patience (as docker_host.snapshot asks)."""
        c = self._containers[cid]
        self._containers[cid] = replace(
            c, health="unhealthy", checks_timed_out=True, answers=True
        )

    def state(self, project: str = "fake") -> LiveState:
        return LiveState(project, tuple(self._view(c) for c in self._containers))

    def slots(self, backend: str) -> list[Slot]:
        return self._slots[backend]

    # -- the platform ------------------------------------------------------------------

    def _call(self, what: str) -> None:
        with self._lock:
            if self.kill_after is not None and self.calls >= self.kill_after:
                raise Killed(f"killed before call {self.calls + 1}: {what}")
            self.calls += 1
            self.log.append(what)
        if self.latency:
            time.sleep(self.latency)

    def _admin_call(self, what: str) -> None:
        with self._lock:
            self._in_admin += 1
            self.proxy_calls_at_once = max(self.proxy_calls_at_once, self._in_admin)
        try:
            self._call(what)
        finally:
            with self._lock:
                self._in_admin -= 1

    def containers(self, service: str) -> tuple[LiveContainer, ...]:
        self._call(f"containers {service}")
        return tuple(self._view(c) for c in self._ids_of(service))

    def inspect(self, container_id: str) -> LiveContainer | None:
        self._call(f"inspect {container_id}")
        if container_id not in self._containers:
            return None
        self._looks[container_id] = self._looks.get(container_id, 0) + 1
        return self._view(container_id)

    def create(self, service: str, total: int) -> None:
        self._call(f"create {service}={total}")
        for _ in range(total - len(self._ids_of(service))):
            self._new(service, self.config[service], state="created")

    def start(self, container_ids: Sequence[str]) -> None:
        self._call(f"start {len(container_ids)}")
        for cid in container_ids:
            c = self._containers.get(cid)
            if c is not None and c.service in self.one_port:
                others = [o for o in self._ids_of(c.service) if o != cid]
                if any(self._containers[o].state == "running" for o in others):
                    raise EngineError(f"cannot start {cid[:12]}: port is allocated")
            self._start(cid)

    def set_cpu_shares(self, container_id: str, shares: int) -> None:
        self._call(f"cpu {container_id}={shares}")

    def checks_healthy_now(self, container: LiveContainer, http: bool) -> bool:
        self._call(f"{'ready' if http else 'check'} {container.id}")
        self.checks_run += 1
        c = self._containers.get(container.id)
        return (
            c is not None and c.state == "running" and c.config_hash not in self.failing
        )

    def stop(self, container_id: str, grace: float) -> int:
        self._call(f"stop {container_id}")
        c = self._containers.get(container_id)
        if c is not None:
            self._containers[container_id] = replace(c, state="exited", ip="")
            self._forget(c.ip)
        return 0

    def remove(self, container_id: str) -> None:
        self._call(f"remove {container_id}")
        c = self._containers.pop(container_id, None)
        if c is not None:
            self._forget(c.ip)

    def load(self) -> str:
        return self.load_said

    def proxy(self) -> "FakePlatform | None":
        self._call("proxy")
        return self if self.proxied else None

    def failure_detail(self, container_id: str) -> str:
        self._call(f"failure_detail {container_id}")
        return ""

    # the proxy's admin API (ProxyAdmin)

    def servers(self, backend: str) -> list[Server]:
        self._admin_call(f"servers {backend}")
        return [self._server(backend, s) for s in self._slots[backend]]

    def all_servers(self) -> dict[str, list[Server]]:
        self._admin_call("all_servers")
        return {
            b: [self._server(b, s) for s in slots] for b, slots in self._slots.items()
        }

    def set_state(self, backend: str, names: Iterable[str], state: str) -> None:
        wanted = set(names)
        if not wanted:
            return
        self._admin_call(f"set_state {backend} {state} {len(wanted)}")
        for s in self._slots[backend]:
            if s.name in wanted:
                s.forced = ADMIN[state]

    # -- inside ------------------------------------------------------------------------

    def _ids_of(self, service: str) -> list[str]:
        return [cid for cid, c in self._containers.items() if c.service == service]

    def _new(self, service: str, config_hash: str, state: str = "created") -> str:
        n = next(self._ids)
        cid = f"{n:064x}"
        self._containers[cid] = LiveContainer(
            id=cid,
            name=f"fake-{service}-{n}",
            service=service,
            number=n,
            state=state,
            health="none",
            image="",
            digest="",
            config_hash=config_hash,
            created=f"{n:08d}",
        )
        return cid

    def _start(self, cid: str) -> None:
        c = self._containers.get(cid)
        if c is None or c.state == "running":
            return
        n = c.number
        ip = f"10.0.{n // 250}.{n % 250 + 2}"
        self._containers[cid] = replace(c, state="running", health="starting", ip=ip)
        self._looks[cid] = 0
        slots = self._slots.get(c.service)
        if slots is not None:
            free = next((s for s in slots if not s.addr), None)
            if free is not None:
                free.addr = ip

    def _forget(self, ip: str) -> None:
        for slots in self._slots.values():
            for s in slots:
                if ip and s.addr == ip:
                    s.addr = ""

    def _view(self, cid: str) -> LiveContainer:
        c = self._containers[cid]
        looks = self._looks.get(cid, 0)
        starting = c.state == "running" and c.health == "starting"
        if starting and looks >= self.turns_healthy_after:
            bad = c.config_hash in self.failing
            c = replace(c, health="unhealthy" if bad else "healthy")
            self._containers[cid] = c
        return c

    def _server(self, backend: str, s: Slot) -> Server:
        container = next(
            (c for c in self._containers.values() if s.addr and c.ip == s.addr), None
        )
        # The proxy's own check asks the replica's readiness, as HAProxy does.
        healthy = container is not None and (
            container.health == "healthy"
            or (
                container.state == "running"
                and container.config_hash not in self.failing
            )
        )
        admin = s.forced | (0 if s.addr else ADMIN_RMAINT)
        return Server(
            backend, s.name, s.addr, OP_RUNNING if healthy else OP_STOPPED, admin
        )
