"""HostAccess (engine/access.py) through the Docker SDK and Compose: what
cli/wiring.py hands every target. A local engine that does not answer yet is started
(or installed) on first connect, so no stage below the CLI starts one itself."""

from __future__ import annotations

from dataclasses import replace

from release.adapters import (
    deploy_lock,
    deploy_log_volume,
    docker_host,
    host_load,
    key_volumes,
    manifest_revision,
    swarm_host,
)
from release.adapters.compose import Compose, compose_binary
from release.adapters.compose_host import ComposeHost
from release.adapters.docker_engine import ensure_engine
from release.engine.access import HostAccess


class DockerHostAccess(HostAccess):
    def __init__(
        self, lock_lease: float = deploy_lock.DEFAULT_LEASE, force_lock: bool = False
    ):
        self.lock_lease = lock_lease  # seconds a deploy's lease lasts unrenewed
        self.force_lock = force_lock  # `--force`: take it from a live holder

    def endpoint(self, host):
        return docker_host.endpoint(host)

    def is_remote(self, host):
        return docker_host.is_remote(host)

    def connect(self, host):
        if not host:
            ensure_engine()
        return docker_host.connect(host or None)

    def snapshot(self, client, project):
        found = docker_host.snapshot(client, project)
        # Whether each unhealthy one still answers: slow is kept, broken is replaced.
        return replace(
            found, containers=docker_host.with_answers(client, found.containers)
        )

    def running_outside(self, client, project):
        return docker_host.running_outside(client, project)

    def compose(self, host, project, env, variables, extra_files, gitops):
        if host:  # Compose reaches an ssh:// host through this process's bridge
            variables = {**variables, "DOCKER_HOST": docker_host.engine_url(host)}
        return Compose(
            project=project,
            env=env,
            variables=variables,
            binary=compose_binary(),
            extra_files=extra_files,
            gitops=gitops,
        )

    def platform(self, client, compose, where, proxy, answers):
        return ComposeHost(client, compose, where, proxy, answers=answers)

    def acquire_lock(self, client, project, env, text, on_takeover):
        info = deploy_lock.mine(project, env, text, lease=self.lock_lease)
        held = deploy_lock.acquire(client, info, on_takeover, force=self.force_lock)
        return deploy_lock.Lease(client, held).start()

    def check_lock(self, client, held):
        held.check()

    def release_lock(self, client, held):
        held.release()

    def hold_lock(self, client, project, env, message):
        return deploy_lock.acquire(
            client, deploy_lock.on_purpose(project, env, message)
        )

    def force_release_lock(self, client, project):
        return deploy_lock.force_release(client, project)

    def lock_holder(self, client, project):
        return deploy_lock.status(client, project)

    def install_keys(self, client, project, keys):
        key_volumes.install(client, project, keys)

    def record_deploy(self, client, project, name, entry):
        return deploy_log_volume.write(client, project, name, entry)

    def read_deploys(self, client, project):
        return deploy_log_volume.read(client, project)

    def manifest_revision(self, manifest):
        return manifest_revision.revision(manifest)

    def require_manager(self, client, manager):
        swarm_host.require_manager(client, manager)

    def read_stack(self, client, stack):
        return swarm_host.read_stack(client, stack)

    def task_error(self, client, task_id):
        return swarm_host.task_error(client, task_id)

    def create_secrets(self, client, stack, secrets):
        swarm_host.create_secrets(client, stack, secrets)

    def stack_deploy(self, manager, stack_file, stack):
        return swarm_host.stack_deploy(manager, stack_file, stack)

    def who(self):
        return deploy_lock.who()

    def load(self):
        return host_load.describe()
