"""The container platform of one Compose project on one Docker engine (local or
ssh://): the real implementation of release/engine/platform.py.

Compose creates and recreates containers (its labels, so `docker compose ps` lists
them); everything else goes to the engine by container ID through the docker SDK.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from release.adapters import docker_host, host_load
from release.adapters.compose import Compose
from release.adapters.proxy import Proxy, socket_from_here
from release.base.errors import EngineError
from release.model.live import LiveContainer
from release.model.service_metrics import PORT

COMPOSE_TIMEOUT = 900
READY_PATH = "/health/ready"  # what the HEALTHCHECK and the proxy's httpchk ask
READY_TIMEOUT = 1.0  # a poll of the health gate, not a verdict


def scale_up_args(service: str, total: int) -> list[str]:
    """Starts replicas beside the running ones (drift made by hand, in tests)."""
    return [
        "up",
        "-d",
        "--quiet-pull",
        "--no-deps",
        "--no-recreate",
        "--scale",
        f"{service}={total}",
        service,
    ]


def create_args(service: str, total: int) -> list[str]:
    """Creates (without starting) new containers beside the existing ones, running
    or stopped, never touching those: `--scale` counts them all."""
    return [
        "create",
        "--quiet-pull",
        "--no-recreate",
        "--scale",
        f"{service}={total}",
        service,
    ]


@dataclass
class ComposeHost:
    client: object  # docker SDK client
    compose: Compose
    host: str  # "local" or the DOCKER_HOST it was opened with
    proxy_service: str | None = "proxy"  # the entry point's Compose service
    # Unhealthy containers asked once with patience in this deploy: slow (True) or
    # broken (False); a verdict holds for the deploy (each ask can take seconds).
    answers: dict[str, bool] = field(default_factory=dict)

    @property
    def project(self) -> str:
        return self.compose.project

    def containers(self, service: str) -> tuple[LiveContainer, ...]:
        found = docker_host.snapshot(self.client, self.project, service).containers
        return docker_host.with_answers(self.client, found, self.answers)

    def inspect(self, container_id: str) -> LiveContainer | None:
        return docker_host.inspect(self.client, container_id)

    def create(self, service: str, total: int) -> None:
        r = self.compose.run(*create_args(service, total), timeout=COMPOSE_TIMEOUT)
        # Compose exits 0 when it could not pull the image (it prints the error and
        # creates nothing): the registry's answer is the error, not a count.
        said = [
            line.strip()
            for line in (r.stderr or "").splitlines()
            if line.strip().startswith("Error") or " Error " in line
        ]
        if said:
            raise EngineError(f"Compose could not create {service}: {said[-1]}")

    def start(self, container_ids: Sequence[str]) -> None:
        import docker

        def start(container_id: str) -> None:
            try:
                self.client.api.start(container_id)
            except docker.errors.APIError as exc:  # a port still taken, ...
                raise EngineError(
                    f"cannot start {container_id[:12]}: {exc.explanation or exc}"
                ) from None

        with ThreadPoolExecutor(max_workers=len(container_ids) or 1) as pool:
            list(pool.map(start, container_ids))

    def set_cpu_shares(self, container_id: str, shares: int) -> None:
        self.client.api.update_container(container_id, cpu_shares=shares)

    def checks_healthy_now(self, container: LiveContainer, http: bool) -> bool:
        """Runs the container's own HEALTHCHECK command now (Docker's verdict:
        exit 0 within its timeout). An HTTP replica first has to answer 200 on its
        readiness endpoint straight at its address, which only the engine's own
        machine reaches (as service_metrics.scrape does): one exec per replica,
        not one per poll."""
        if self.host != "local":
            return False
        if http:
            if not container.ip:
                return False
            try:
                r = httpx.get(
                    f"http://{container.ip}:{PORT}{READY_PATH}", timeout=READY_TIMEOUT
                )
            except httpx.HTTPError:
                return False
            if r.status_code != 200:
                return False
        return docker_host.run_health_check(self.client, container.id)

    def stop(self, container_id: str, grace: float) -> int:
        self.client.api.stop(container_id, timeout=int(grace))
        after = self.inspect(container_id)
        return after.exit_code if after else 0

    def remove(self, container_id: str) -> None:
        import docker

        try:
            self.client.api.remove_container(container_id, force=True)
        except docker.errors.NotFound:
            pass

    def load(self) -> str:
        return host_load.describe() if self.host == "local" else ""

    def proxy(self) -> Proxy | None:
        if not self.proxy_service:
            return None
        running = [
            c for c in self.containers(self.proxy_service) if c.state == "running"
        ]
        if not running:
            return None
        container = self.client.containers.get(running[0].id)
        if self.host == "local":
            return Proxy(container, socket_path=socket_from_here(container))
        return Proxy(container)

    def failure_detail(self, container_id: str) -> str:
        check = docker_host.health_log(self.client, container_id)
        logs = docker_host.logs_tail(self.client, container_id)
        parts = [f"last health check: {check[-300:]}"] if check else []
        parts.append(
            f"last log lines of {container_id[:12]}:\n" + (logs or "(no output)")
        )
        return "\n".join(parts)
