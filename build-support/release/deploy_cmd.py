"""`./inv deploy` and `./inv lock`: flags in, one release.* call, rendering out."""

from __future__ import annotations

from pathlib import Path

from release import console, notify, rollout
from release.adapters import deploy_lock
from release.errors import UsageError
from release.manifest import load
from release.layout import check_env, project_name
from release.adapters import docker_host


def deploy(
    env: str,
    services: list[str],
    dry_run: bool,
    host: str,
    as_json: bool,
    parallel: bool,
    health_timeout: float,
    project: str,
    manifest: str,
    port: int,
) -> int:
    """Returns the exit code: 0 done or in sync, 2 a dry run with changes."""
    # Slack-compatible notices when ECOTRACK_SLACK_WEBHOOK_URL is set (notify.py).
    reporter = notify.NotifyingReporter(
        notify.Notifier.from_env(),
        env,
        project_name(env, project),
        as_json=as_json,
        dry_run=dry_run,
        actor=deploy_lock.who(),
    )
    check_env(env)
    loaded = load(Path(manifest), env) if manifest else None
    if health_timeout <= 0:
        raise UsageError("--health-timeout must be positive")
    try:
        result = rollout.deploy(
            env,
            services=services,
            manifest=loaded,
            project=project,
            host=host or None,
            dry_run=dry_run,
            health_timeout=health_timeout,
            parallel=parallel,
            proxy_port=port or None,
            reporter=reporter,
        )
    except rollout.DeployFailed as exc:
        reporter.result(exc.result)
        raise
    reporter.result(result)
    return result.exit_code


def lock_command(action: str, env: str, project: str, host: str) -> None:
    check_env(env)
    project = project_name(env, project)
    client = docker_host.connect(host or None)
    if action == "status":
        held = deploy_lock.status(client, project)
        console.info(
            f"deploy lock of {project}: "
            + (held.describe() if held else "free (no deploy running)")
        )
    elif action == "release":
        held = deploy_lock.force_release(client, project)
        console.info(
            f"released the deploy lock of {project}, {held.describe()}"
            if held
            else f"the deploy lock of {project} was not held"
        )
    else:
        raise UsageError(f"unknown lock action '{action}' (status or release)")
