"""What a deploy session needs of a Docker host, as an interface: connect, look at a
Compose project, drive it (the engine's Platform), hold the deploy lock, keep the
deploy log there.

The composition root (cli/wiring.py) passes the Docker SDK's implementation
(adapters/host_access.py); tests pass their own. So the deploy session, the rollouts
and the looks name no adapter, and whether a host is local decides nothing here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from release.engine.platform import Platform
from release.model.live import LiveContainer, LiveState


class HostAccess(ABC):
    @abstractmethod
    def endpoint(self, host: str | None) -> str:
        """The Docker host `host` names, defaulted (DOCKER_HOST); "" is local."""

    @abstractmethod
    def is_remote(self, host: str) -> bool:
        """Whether `host` is another machine (ssh://, tcp://)."""

    @abstractmethod
    def connect(self, host: str):
        """A client of `host`'s engine ("": the local one, started if need be)."""

    @abstractmethod
    def snapshot(self, client, project: str) -> LiveState:
        """The project's containers, each unhealthy one asked whether it answers."""

    @abstractmethod
    def running_outside(self, client, project: str) -> list[tuple[LiveContainer, bool]]:
        """Running containers outside the project, each with "on its network"."""

    @abstractmethod
    def compose(
        self,
        host: str,
        project: str,
        env: str,
        variables: dict[str, str],
        extra_files: tuple,
        gitops,
    ):
        """The environment's Compose project aimed at `host` (adapters/compose.py's
        Compose: `config()`, `run(...)`)."""

    @abstractmethod
    def platform(
        self, client, compose, where: str, proxy: str | None, answers: dict
    ) -> Platform:
        """What the engine drives on that host for one deploy."""

    @abstractmethod
    def acquire_lock(
        self, client, project: str, env: str, text: str, on_takeover: Callable
    ):
        """The environment's deploy lock on that engine, as a lease renewed until
        release_lock; LockError when held. Taking over an expired lease (or a live
        one, when this access was told to force) is said through
        `on_takeover(line)`."""

    @abstractmethod
    def check_lock(self, client, held) -> None:
        """The fencing check: LockLost when `held` is no longer the current holder
        (taken over, released)."""

    @abstractmethod
    def release_lock(self, client, held) -> None:
        """Gives the lock back (only our own)."""

    @abstractmethod
    def hold_lock(self, client, project: str, env: str, message: str):
        """Holds the lock on purpose, without expiry, until released; LockError
        when it is held."""

    @abstractmethod
    def force_release_lock(self, client, project: str):
        """Releases whoever holds it; the holder it had, None when free."""

    @abstractmethod
    def lock_holder(self, client, project: str):
        """Who holds the project's deploy lock on that engine, None when it is free
        (holder, machine, pid, since, version, token, and `describe()` for one
        line)."""

    # The deploy log kept on the host itself (engine/deploy_log.py), so it outlives
    # the machine that deployed (a CI runner).
    @abstractmethod
    def record_deploy(self, client, project: str, name: str, entry: dict) -> str:
        """Keeps one deploy-log entry on that engine under `name` (never replacing
        another); says where. A ReleaseError when the host cannot take it."""

    @abstractmethod
    def read_deploys(self, client, project: str) -> list[dict]:
        """Every deploy-log entry kept on that engine ([] when none is)."""

    @abstractmethod
    def install_keys(self, client, project: str, keys: dict[str, bytes]) -> None:
        """Puts the token keys ({file name: content}) where that engine's containers
        mount them as files, never as environment (a ReleaseError when it cannot)."""

    @abstractmethod
    def create_secrets(self, client, stack: str, secrets: dict[str, bytes]) -> None:
        """Makes the Swarm secrets ({name: content}) the stack file names as
        external; one that exists is kept (a name stands for one content)."""

    @abstractmethod
    def manifest_revision(self, manifest: Path) -> tuple[str, str | None]:
        """The commit the manifest file's repository is at ("" outside git) and the
        file's text in that commit (None when the commit does not hold it)."""

    # A Swarm manager (targets/swarm): Swarm rolls, these only hand over and read.
    @abstractmethod
    def require_manager(self, client, manager: str) -> None:
        """Refuses an engine that is not a Swarm manager (one line)."""

    @abstractmethod
    def read_stack(self, client, stack: str) -> tuple[list[dict], list[dict]]:
        """The stack's services and tasks, as the Docker API describes them."""

    @abstractmethod
    def task_error(self, client, task_id: str) -> str:
        """Why one task ended ("" when it cannot be read)."""

    @abstractmethod
    def stack_deploy(self, manager: str, stack_file, stack: str) -> str:
        """Hands the stack file to the manager (`docker stack deploy`)."""

    @abstractmethod
    def who(self) -> str:
        """Who deploys: user@machine, or the CI actor and run."""

    @abstractmethod
    def load(self) -> str:
        """How busy this machine is ("load average 9.1 on 2 CPUs"), "" if not."""
