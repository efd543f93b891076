"""`./inv deploy` and `./inv lock`: flags in, one release.* call, rendering out."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from release.adapters import deploy_lock
from release.base import console
from release.base.errors import UsageError
from release.base.layout import GITOPS, check_env, project_name
from release.cli import canary as canary_cmd
from release.cli import wiring
from release.model.manifest import load
from release.targets import notify
from release.targets.fleet import rollout as fleet_rollout
from release.targets.host import rollout
from release.targets.target import Deploy


@dataclass(frozen=True)
class DeployRequest:
    """`./inv deploy`'s flags, as the tooling takes them."""

    env: str = "local"
    services: tuple[str, ...] = ()
    dry_run: bool = False
    host: str = ""
    as_json: bool = False
    parallel: int = 0  # lanes at most; 0: a safe number for the host
    health_timeout: float = 120.0
    project: str = ""
    manifest: str = ""  # another manifest file
    port: int = 0  # of the proxy, when it is (re)created
    # another hosts file (default: gitops/environments/<env>/hosts.yaml)
    hosts_file: str = ""
    force: bool = False  # take the deploy lock from a live holder (a warning)
    lock_lease: float = 60.0  # seconds the lock lasts if this deploy stops renewing


def deploy(request: DeployRequest) -> int:
    """Returns the exit code: 0 done or in sync, 2 a dry run with changes."""
    r = request
    # Slack-compatible notices when ECOTRACK_SLACK_WEBHOOK_URL is set
    # (targets/notify.py).
    reporter = notify.NotifyingReporter(
        notify.Notifier.from_env(),
        r.env,
        project_name(r.env, r.project),
        as_json=r.as_json,
        dry_run=r.dry_run,
        actor=deploy_lock.who(),
    )
    check_env(r.env)
    loaded = load(Path(r.manifest), r.env) if r.manifest else None
    if r.health_timeout <= 0:
        raise UsageError("--health-timeout must be positive")
    if r.parallel < 0:
        raise UsageError("--parallel must be 0 (a safe default) or more")
    if r.lock_lease < 1:
        raise UsageError("--lock-lease must be 1 second or more")
    target = wiring.open_target(
        GITOPS.root,
        r.env,
        r.hosts_file,
        r.host,
        lock_lease=r.lock_lease,
        force_lock=r.force,
    )
    job = Deploy(
        services=r.services,
        manifest=loaded,
        project=r.project,
        dry_run=r.dry_run,
        health_timeout=r.health_timeout,
        parallel=r.parallel,
        proxy_port=r.port or None,
        reporter=reporter,
    )
    render = RENDER.get(target.kind, render_one)
    return _carried_out(
        lambda: target.deploy(job), lambda result: render(result, reporter, r.as_json)
    )


def _carried_out(deploy_fn, render) -> int:
    """Runs one of the deploys and renders its result, also when it failed."""
    try:
        result = deploy_fn()
    except rollout.DeployFailed as exc:  # FleetDeployFailed too
        render(exc.result)
        raise
    render(result)
    return result.exit_code


def refuse_with_canary(dry_run: bool, parallel: int, force: bool = False) -> None:
    """Flags a canary cannot honour, refused in one line instead of ignored."""
    if dry_run:
        raise UsageError(
            "--dry-run with --canary: a canary starts real replicas; "
            "plan with --dry-run alone"
        )
    if parallel:
        raise UsageError("--parallel with --canary: a canary rolls one service")
    if force:
        raise UsageError(
            "--force with --canary: take the lock with a plain deploy, or "
            "./inv lock release first"
        )


def canary(
    request: DeployRequest, replicas: int, window: float, max_error_rate: float
) -> int:
    """`--canary N`: one service on one Docker host, refused on any other target."""
    r = request
    target = wiring.open_target(GITOPS.root, check_env(r.env), r.hosts_file, r.host)
    target.require_one_host("--canary")
    return canary_cmd.command(
        r.env,
        list(r.services),
        replicas,
        window,
        max_error_rate,
        host=r.host,
        as_json=r.as_json,
        health_timeout=r.health_timeout,
        project=r.project,
        manifest=r.manifest,
        port=r.port,
    )


def render_one(result, reporter, as_json: bool) -> None:
    reporter.result(result)  # the reporter knows --json


def render_fleet(result: fleet_rollout.FleetResult, reporter, as_json: bool) -> None:
    for _, r in result.hosts:
        if as_json:
            reporter.notify_result(r)
        else:
            reporter.result(r)
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
        sys.stdout.flush()
        return
    rows = [
        [
            h.name,
            h.endpoint,
            "in sync" if r.plan.in_sync else f"{len(r.plan.changes)} change(s)",
            "dry run" if r.dry_run else ("ok" if r.ok else "FAILED"),
            f"{r.duration:.1f}s",
        ]
        for h, r in result.hosts
    ] + [[h.name, h.endpoint, "-", "untouched", "-"] for h in result.untouched]
    console.table(
        f"fleet {result.environment} ({result.project}): "
        + ("dry run" if result.dry_run else ("ok" if result.ok else "FAILED")),
        ["host", "endpoint", "plan", "result", "duration"],
        rows,
    )


# A fleet's result is shown host by host, with a table; the others' as one result.
RENDER = {"fleet": render_fleet}
