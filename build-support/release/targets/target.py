"""A Target: where an environment deploys, built once from its hosts.yaml (or its
absence) by targets/environment.py. Deploy, drift, the agent and the canary take a
Target and never ask which kind it is.

Three kinds: one Docker host (targets/host), a fleet of hosts rolled in batches
(targets/fleet), a Swarm that rolls its services itself (targets/swarm). What they
share is written here once: the arguments of a deploy and of a look, the refusal of
what only one host can do, and how a result splits per host.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from release.base.errors import UsageError
from release.base.layout import GITOPS, GitopsTree
from release.engine.access import HostAccess
from release.engine.events import Reporter
from release.engine.results import DeployResult
from release.model.manifest import Manifest


@dataclass(frozen=True)
class Deploy:
    """What a deploy asks of any target (`./inv deploy`'s flags, the agent's pass)."""

    services: Sequence[str] = ()
    manifest: Manifest | None = None
    project: str = ""
    dry_run: bool = False
    health_timeout: float = 120.0
    parallel: int = 0  # lanes at most per host; 0: a safe number for the host
    proxy_port: int | None = None
    reporter: Reporter = field(default_factory=Reporter)
    gitops: GitopsTree = GITOPS

    def shared(self) -> dict:
        """The arguments every kind's deploy takes (`parallel` is the Compose
        path's: a Swarm sizes its own rolling updates)."""
        return {
            "services": self.services,
            "manifest": self.manifest,
            "project": self.project,
            "dry_run": self.dry_run,
            "health_timeout": self.health_timeout,
            "proxy_port": self.proxy_port,
            "reporter": self.reporter,
            "gitops": self.gitops,
        }


@dataclass(frozen=True)
class Look:
    """What a look for drift asks of any target. `client_for(endpoint)` gives the
    Docker client of a host (the agent keeps its clients across passes); None: each
    look connects anew."""

    project: str = ""
    manifest: Manifest | None = None
    gitops: GitopsTree = GITOPS
    client_for: Callable[[str], object] | None = None

    def client(self, endpoint: str):
        return self.client_for(endpoint) if self.client_for else None

    def shared(self) -> dict:
        return {
            "project": self.project,
            "manifest": self.manifest,
            "gitops": self.gitops,
        }


@dataclass(frozen=True)
class Place:
    """One Docker engine of a target, as `./inv status` and `./inv audit` name it:
    a fleet's host by its hosts.yaml name, any other by its endpoint."""

    name: str
    endpoint: str  # "" for the local engine (or DOCKER_HOST)

    @property
    def where(self) -> str:
        """How the deploy log's entries name it (ProjectOnHost.where)."""
        return self.endpoint or "local"


class Target(ABC):
    kind = ""  # "host", "fleet", "swarm": a name for output, never for decisions
    label = ""  # how a message names it: "one Docker host", "a fleet", "a Swarm"

    def __init__(self, access: HostAccess, env: str, source: str) -> None:
        self.access = access  # how it reaches a Docker host (cli/wiring.py's)
        self.env = env
        self.source = source  # what describes it: hosts.yaml's path, or the host

    def describe(self) -> str:
        return f"{self.source}: {self.label}"

    @abstractmethod
    def deploy(self, request: Deploy):
        """Makes the target run the manifest: a DeployResult (a FleetResult for a
        fleet); raises DeployFailed like the deploy it runs."""

    @abstractmethod
    def observe(self, look: Look):
        """One look for drift: an Observation (a FleetObservation for a fleet), whose
        `report` is the whole target's DriftReport."""

    @abstractmethod
    def lock_host(self) -> str:
        """The Docker endpoint where the environment's one deploy lock lives ("":
        the local engine or DOCKER_HOST), so `./inv lock` finds it for any kind."""

    def require_one_host(self, what: str) -> None:
        """`what` (e.g. a canary) drives one Docker host: refused on any other
        target, in one line."""
        raise UsageError(
            f"{what} drives one Docker host; {self.source} describes {self.label}"
        )

    def per_host(self, result) -> list[DeployResult]:
        """A deploy's result per host reached."""
        return [result]

    def places(self) -> tuple[Place, ...]:
        """The Docker engines that keep the target's deploy logs, in rollout order
        (the first also keeps the deploy lock): one host's engine, a Swarm's
        manager; a fleet's hosts (FleetTarget)."""
        endpoint = self.access.endpoint(self.lock_host() or None)
        return (Place(endpoint or "local", endpoint),)

    def looks_per_host(self, looked) -> list[tuple[Place, object]]:
        """An observation (observe()) per engine it looked at."""
        return [(self.places()[0], looked)]
