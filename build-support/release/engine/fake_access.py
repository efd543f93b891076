"""An in-memory HostAccess for unit tests of the deploy log, the audit and the status
(no Docker): engines by endpoint, each keeping its deploy-log entries and its lock
holder (with the fencing tokens of adapters/deploy_lock.py), any of them
unreachable on demand, and a manifest repository's answer.

Only what those read and write is here; a test that reaches for a deploy's own
calls (compose, platform, snapshot, Swarm) gets an AssertionError naming the call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from release.base.errors import EngineError, LockError, LockLost
from release.engine.access import HostAccess


@dataclass
class FakeLock:
    holder: str
    since: str = "2026-01-01T00:00:00+00:00"
    version: str = "auth 1.0.0"
    token: int = 1  # the fencing token (adapters/deploy_lock.py)
    project: str = ""

    def to_dict(self) -> dict:
        return {"holder": self.holder, "since": self.since, "version": self.version}

    def describe(self) -> str:
        return f"held by {self.holder} since {self.since}, deploying {self.version}"


@dataclass
class FakeEngine:
    logs: dict[str, dict[str, dict]] = field(default_factory=dict)  # project → name
    locks: dict[str, FakeLock] = field(default_factory=dict)  # project → holder
    keys: dict[str, dict[str, bytes]] = field(default_factory=dict)  # project → files
    tokens: dict[str, int] = field(default_factory=dict)  # project → last token
    reachable: bool = True  # False: connecting fails
    writable: bool = True  # False: connected, but the log cannot be written

    def take_over(self, project: str, holder: str) -> FakeLock:
        """Another deploy takes the project's lock (an expired lease, --force): the
        next token."""
        token = self.tokens.get(project, 0) + 1
        self.tokens[project] = token
        self.locks[project] = FakeLock(holder, token=token, project=project)
        return self.locks[project]


@dataclass
class FakeAccess(HostAccess):
    engines: dict[str, FakeEngine] = field(default_factory=dict)  # by endpoint
    revision: tuple[str, str | None] = ("", None)  # manifest_revision's answer
    default_host: str = ""  # what DOCKER_HOST would say

    def engine(self, endpoint: str) -> FakeEngine:
        return self.engines.setdefault(endpoint, FakeEngine())

    def endpoint(self, host):
        return host or self.default_host

    def is_remote(self, host):
        return host.startswith(("ssh://", "tcp://"))

    def connect(self, host):
        if not self.engine(host).reachable:
            raise EngineError(f"cannot reach the Docker engine at {host or 'local'}")
        return host  # the "client" is the engine's endpoint

    def lock_holder(self, client, project):
        return self.engine(client).locks.get(project)

    def install_keys(self, client, project, keys):
        self.engine(client).keys[project] = dict(keys)

    def record_deploy(self, client, project, name, entry):
        engine = self.engine(client)
        if not engine.writable:
            raise EngineError(f"cannot write the deploy log of {project}: disk full")
        log = engine.logs.setdefault(project, {})
        assert name not in log, f"{name} written twice"
        log[name] = dict(entry)
        return f"volume {project}-deploy-log"

    def read_deploys(self, client, project):
        engine = self.engine(client)
        if not engine.reachable:
            raise EngineError("the engine went away")
        return [dict(e) for e in engine.logs.get(project, {}).values()]

    def manifest_revision(self, manifest: Path):
        return self.revision

    def who(self):
        return "tester@laptop"

    def load(self):
        return ""

    # -- what a deploy drives: not these tests' business -------------------------

    def _unused(self, name: str):
        raise AssertionError(f"FakeAccess.{name} is not faked")

    def snapshot(self, client, project):
        self._unused("snapshot")

    def running_outside(self, client, project):
        self._unused("running_outside")

    def compose(self, host, project, env, variables, extra_files, gitops):
        self._unused("compose")

    def platform(self, client, compose, where, proxy, answers):
        self._unused("platform")

    # -- the deploy lock: tokens as adapters/deploy_lock.py counts them ---------------

    def acquire_lock(self, client, project, env, text, on_takeover):
        engine = self.engine(client)
        if project in engine.locks:
            raise LockError(f"another deploy of {project} is running")
        return engine.take_over(project, self.who())

    def check_lock(self, client, held):
        now = self.engine(client).locks.get(held.project)
        if now is None:
            raise LockLost(f"deploy lock lost: released (token {held.token})")
        if now is not held:
            raise LockLost(
                f"deploy lock lost: taken over by {now.holder} "
                f"(token {now.token} > {held.token})"
            )

    def release_lock(self, client, held):
        locks = self.engine(client).locks
        for project, lock in list(locks.items()):
            if lock is held:
                del locks[project]

    def hold_lock(self, client, project, env, message):
        self._unused("hold_lock")

    def force_release_lock(self, client, project):
        return self.engine(client).locks.pop(project, None)

    def require_manager(self, client, manager):
        self._unused("require_manager")

    def read_stack(self, client, stack):
        self._unused("read_stack")

    def task_error(self, client, task_id):
        self._unused("task_error")

    def create_secrets(self, client, stack, secrets):
        self._unused("create_secrets")

    def stack_deploy(self, manager, stack_file, stack):
        self._unused("stack_deploy")
