"""The seam between the deploy engine and a container platform.

The engine (engine.py) only ever calls these methods; adapters/compose_host.py
implements them for one Compose project on one Docker engine (local or ssh://),
fake.py in memory for tests, which can stop the engine between any two calls.
Containers are always addressed by ID.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from release.model.live import LiveContainer
from release.model.proxy import Counts, Server

WARMUP_CPU_SHARES = 128  # new replicas start at 1/8 of the normal CPU weight
DEFAULT_CPU_SHARES = 1024


class ProxyAdmin(Protocol):
    """The entry point's runtime API: per-backend server slots and their state."""

    def servers(self, backend: str) -> list[Server]: ...

    def all_servers(self) -> dict[str, list[Server]]:
        """{backend: its servers} for every backend, in one call."""

    def set_state(self, backend: str, names: Iterable[str], state: str) -> None: ...

    def counts(self, backend: str) -> dict[str, Counts]:
        """{server name: requests and responses by class} (the canary's verdict)."""


class Platform(Protocol):
    host: str  # where it runs, for messages: "local", "ssh://deploy@host"

    def containers(self, service: str) -> tuple[LiveContainer, ...]:
        """Every container of the service, running or not."""

    def inspect(self, container_id: str) -> LiveContainer | None: ...

    def create(self, service: str, total: int) -> None:
        """Creates (without starting) containers beside the existing ones, running
        or stopped, until the service has `total`; never touches those."""

    def start(self, container_ids: Sequence[str]) -> None:
        """Starts them together (each start briefly stalls the engine's network)."""

    def set_cpu_shares(self, container_id: str, shares: int) -> None: ...

    def checks_healthy_now(self, container: LiveContainer, http: bool) -> bool:
        """A new replica passes its own HEALTHCHECK command run now from here
        (Docker's verdict, before Docker's first scheduled check); an HTTP one only
        once its readiness endpoint answers. False when it cannot be run from here
        (a remote engine): Docker's health decides alone."""

    def stop(self, container_id: str, grace: float) -> int:
        """SIGTERM, `grace` seconds, SIGKILL; returns the exit code."""

    def remove(self, container_id: str) -> None:
        """Removes it (forced); a container already gone is fine."""

    def load(self) -> str:
        """How busy the engine's machine is, when it is ("load average 9.1 on 2
        CPUs, CPU pressure 63 %"); "" when it is not, or cannot be known here."""

    def proxy(self) -> ProxyAdmin | None:
        """The running entry point's admin API, or None when none runs."""

    def failure_detail(self, container_id: str) -> str:
        """Its last health check output and log lines, for an error message."""


class SerializedProxy:
    """The proxy's admin API with one call at a time: services rolling side by side
    (apply's lanes) share it, and HAProxy's runtime socket takes one command per
    connection."""

    def __init__(self, admin: ProxyAdmin, lock: threading.RLock):
        self.admin, self.lock = admin, lock

    def servers(self, backend: str) -> list[Server]:
        with self.lock:
            return self.admin.servers(backend)

    def all_servers(self) -> dict[str, list[Server]]:
        with self.lock:
            return self.admin.all_servers()

    def set_state(self, backend: str, names: Iterable[str], state: str) -> None:
        with self.lock:
            self.admin.set_state(backend, names, state)


class FencedPlatform:
    """A Platform whose every call that changes the host first runs `fence` (the
    deploy lock's fencing check, raising LockLost once another deploy holds the
    lock): the one place the check guards the host, whichever step (or abort, or
    tidy-up) makes the call. Looking is not fenced. `acted` says whether any
    change went through."""

    def __init__(self, inner: Platform, fence: Callable[[], None]):
        self.inner, self.fence = inner, fence
        self.host = inner.host
        self.acted = False

    def _guard(self) -> None:
        self.fence()
        self.acted = True

    def containers(self, service: str) -> tuple[LiveContainer, ...]:
        return self.inner.containers(service)

    def inspect(self, container_id: str) -> LiveContainer | None:
        return self.inner.inspect(container_id)

    def create(self, service: str, total: int) -> None:
        self._guard()
        self.inner.create(service, total)

    def start(self, container_ids: Sequence[str]) -> None:
        self._guard()
        self.inner.start(container_ids)

    def set_cpu_shares(self, container_id: str, shares: int) -> None:
        self._guard()
        self.inner.set_cpu_shares(container_id, shares)

    def checks_healthy_now(self, container: LiveContainer, http: bool) -> bool:
        return self.inner.checks_healthy_now(container, http)

    def stop(self, container_id: str, grace: float) -> int:
        self._guard()
        return self.inner.stop(container_id, grace)

    def remove(self, container_id: str) -> None:
        self._guard()
        self.inner.remove(container_id)

    def load(self) -> str:
        return self.inner.load()

    def proxy(self) -> ProxyAdmin | None:
        admin = self.inner.proxy()
        return None if admin is None else FencedProxy(admin, self._guard)

    def failure_detail(self, container_id: str) -> str:
        return self.inner.failure_detail(container_id)


class FencedProxy:
    """The proxy's admin API with its one changing call fenced (FencedPlatform)."""

    def __init__(self, admin: ProxyAdmin, guard: Callable[[], None]):
        self.admin, self.guard = admin, guard

    def servers(self, backend: str) -> list[Server]:
        return self.admin.servers(backend)

    def all_servers(self) -> dict[str, list[Server]]:
        return self.admin.all_servers()

    def set_state(self, backend: str, names: Iterable[str], state: str) -> None:
        self.guard()
        self.admin.set_state(backend, names, state)

    def counts(self, backend: str) -> dict[str, Counts]:
        return self.admin.counts(backend)
