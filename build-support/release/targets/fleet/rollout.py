"""`./inv deploy --env ENV` for an environment with hosts.yaml: the same deploy,
host by host, in batches of `batch_size` hosts.

    lock (on the first host, for the whole environment)
    → per batch: per host a DeploySession (snapshot → resolve → plan)
                 → apply through that host's ComposeHost platform (side by side
                   within the batch) → that host's deploy log
    → stop at the first failed host: later batches are not touched

Failure mode (documented in README.md): the failing host's engine aborts the
service there (its new containers removed, the old ones serving); hosts already
done keep the new version, which is the manifest's desired state; later hosts keep
the old one. `./inv drift` then shows the mixed fleet, and re-running the deploy
(after a fix or a `./inv rollback`) converges every host.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field

from release.base import exit_codes
from release.base.errors import ReleaseError
from release.base.layout import GitopsTree, project_name
from release.engine.access import HostAccess
from release.engine.apply import default_parallel
from release.engine.events import Reporter
from release.engine.results import DeployFailed, DeployResult
from release.model.manifest import Manifest
from release.targets.fleet.hosts import Fleet, FleetHost
from release.targets.host.session import DeploySession, ProjectOnHost


@dataclass
class FleetResult:
    """Every host's DeployResult, in rollout order; hosts not reached are listed."""

    environment: str
    project: str
    dry_run: bool
    hosts: list[tuple[FleetHost, DeployResult]] = field(default_factory=list)
    untouched: list[FleetHost] = field(default_factory=list)
    failed_host: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed_host and all(r.ok for _, r in self.hosts)

    @property
    def exit_code(self) -> int:
        if self.dry_run:
            in_sync = all(r.plan.in_sync for _, r in self.hosts)
            return exit_codes.OK if in_sync else exit_codes.DIFFERS
        if any(r.interrupted for _, r in self.hosts):
            return exit_codes.INTERRUPTED
        return exit_codes.OK if self.ok else exit_codes.FAILURE

    def to_dict(self) -> dict:
        return {
            "environment": self.environment,
            "project": self.project,
            "dry_run": self.dry_run,
            "result": ("dry-run" if self.dry_run else ("ok" if self.ok else "failed")),
            "exit_code": self.exit_code,
            "failed_host": self.failed_host,
            "hosts": [
                {"name": h.name, "endpoint": h.endpoint, **r.to_dict()}
                for h, r in self.hosts
            ],
            "untouched": [h.name for h in self.untouched],
        }


class FleetDeployFailed(DeployFailed):
    def __init__(self, message: str, result: FleetResult):
        ReleaseError.__init__(self, message)
        self.result = result
        self.exit_code = result.exit_code


def _session(
    access, env, project, host, manifest, services, reporter, locked, gitops, kw
):
    return DeploySession(
        ProjectOnHost(env, project, host.endpoint, **kw),
        access,
        manifest,
        tuple(services),
        reporter,
        locked=locked,
        lock_label="fleet" if locked else "",
        gitops=gitops,
    )


def _run_host(host: FleetHost, s: DeploySession, result: DeployResult, opts) -> None:
    health_timeout, drain_timeout, lanes = opts
    s.roll(result, health_timeout, drain_timeout, lanes, fleet_host=host.name)


def _run_batch(results, opts) -> None:
    """A batch's hosts side by side. Ctrl-C/SIGTERM reaches only this (the main)
    thread: every host's roll is cancelled and waited for, so each host ends rolled
    back and "interrupted" before the caller releases the environment's lock."""
    with ThreadPoolExecutor(len(results)) as pool:
        futures = [pool.submit(_run_host, h, s, r, opts) for h, s, r in results]
        try:
            for f in futures:
                f.result()
        except KeyboardInterrupt:
            for _, s, _ in results:
                s.cancel()
            while not all(f.done() for f in futures):
                try:
                    wait(futures)
                except KeyboardInterrupt:
                    continue


def _failure(host: FleetHost, result: DeployResult) -> str:
    failed = [o for o in result.outcomes if o.result == "failed"]
    if failed:
        detail = failed[0].detail.splitlines()[0] if failed[0].detail else "failed"
        return f"{failed[0].service}: {detail}"
    return f"stopped: {result.error or 'unknown error'}"


def deploy_fleet(
    access: HostAccess,
    env: str,
    fleet: Fleet,
    *,
    services: Sequence[str] = (),
    manifest: Manifest | None = None,
    project: str = "",
    dry_run: bool = False,
    health_timeout: float = 120.0,
    drain_timeout: float = 30.0,
    parallel: int = 0,
    proxy_port: int | None = None,
    proxy_bind: str | None = None,
    reporter: Reporter | None = None,
    gitops: GitopsTree,
) -> FleetResult:
    """Rolls the fleet batch by batch; raises FleetDeployFailed (exit 1) naming the
    first host whose deploy failed, after which no later host is touched."""
    reporter = reporter or Reporter()
    project = project_name(env, project)
    kw = {"proxy_port": proxy_port, "proxy_bind": proxy_bind}
    out = FleetResult(env, project, dry_run)
    batches = fleet.batches()
    # Hosts are remote engines: the same safe default as `./inv deploy --host ssh://`.
    opts = (health_timeout, drain_timeout, parallel or default_parallel(local=False))
    with ExitStack() as stack:
        lock_holder = None
        for n, batch in enumerate(batches):
            if out.failed_host:
                out.untouched.extend(batch)
                continue
            opened = []
            for host in batch:
                reporter.info(
                    f"host {host.name} ({host.endpoint}), batch {n + 1}/{len(batches)}"
                )
                # The environment's one deploy lock lives on the first host and is
                # held from before the first plan until the last host is done.
                first = lock_holder is None
                s = _session(
                    access,
                    env,
                    project,
                    host,
                    manifest,
                    services,
                    reporter,
                    first and not dry_run,
                    gitops,
                    kw,
                )
                if not first:
                    s.fence = lock_holder.fence  # the environment's one lock
                if first:
                    lock_holder = stack.enter_context(s)
                    opened.append((host, s, None))
                else:
                    opened.append((host, s, ExitStack()))
                    opened[-1][2].enter_context(s)
                if manifest is None:
                    manifest = s.manifest  # read once, the same for every host
                reporter.plan(s.plan)
            try:
                results = []
                for host, s, _ in opened:
                    r = DeployResult(
                        env, project, host.endpoint, s.plan, dry_run, s.started_at
                    )
                    out.hosts.append((host, r))
                    results.append((host, s, r))
                if dry_run:
                    continue
                if len(results) == 1:
                    host, s, r = results[0]
                    _run_host(host, s, r, opts)
                else:
                    _run_batch(results, opts)
                for host, _, r in results:
                    if not r.ok and not out.failed_host:
                        out.failed_host = host.name
                        out.error = f"host {host.name}: {_failure(host, r)}"
            finally:
                for _, _, own in opened:
                    if own is not None:
                        own.close()
    if not dry_run and not out.ok:
        untouched = ", ".join(h.name for h in out.untouched) or "none"
        raise FleetDeployFailed(
            f"{out.error} (later hosts untouched: {untouched})", out
        )
    return out
