"""`./inv affected`, `publish`, `record`, `promote`, `history`, `rollback`: a change
becomes a manifest entry in git."""

from pathlib import Path

from invoke import task

from release.base import console
from release.base.errors import UsageError
from release.cli import flags
from release.cli.handler import exit_with, handles_errors


@task(help=flags.AFFECTED)
@handles_errors
def affected(c, since, committed_only=False, json=False, explain=False):
    """Print the services a change affects (Pants' graph).

    Rules and output formats: docs/affected.md. Exit 0 even when none.
    """
    from release.change.report import report
    from release.cli import affected as affected_cmd

    affected_cmd.render(
        report(since, committed_only=committed_only),
        as_json=json,
        explain=explain,
    )


@task(iterable=["service"], help=flags.PUBLISH)
@handles_errors
def publish(
    c,
    since="",
    service=None,
    registry="local",
    env="local",
    json=False,
    release_out="",
):
    """Build, push and record the changed services' images.

    Tags are immutable (<branch>-<short sha>); the digest is read back from the
    registry and written to gitops/versions/<env>.json, committed as its own commit
    (local: written, not committed). Unchanged services are neither built nor pushed.
    """
    from release.cli import publish_render
    from release.publish import pipeline as publishing

    request = publishing.PublishRequest(
        env=env,
        registry=registry,
        services=tuple(service or ()),
        since=since or None,
        release_out=Path(release_out) if release_out else None,
    )
    publish_render.render(
        publishing.publish(request, progress_to_stderr=json), as_json=json
    )


@task(positional=["records"], help=flags.RECORD)
@handles_errors
def record(c, records, env="", json=False):
    """Record published images in a manifest, as one commit.

    Reads the release records, checks them all (format, environment, service, image
    and digest, one image per service) before touching anything, then writes
    gitops/versions/<env>.json and commits it. Idempotent: images the manifest already
    names, and records older than its entry, change nothing (no commit).
    Exit 0 recorded or nothing to record, 1 a bad record or git failed, 2 usage.
    --json: {"env", "manifest", "commit" (null: nothing new, or local),
    "recorded": [RECORD], "skipped": [RECORD + "reason": "already recorded" |
    "superseded"]}; RECORD: {"service", "version", "tag", "image", "digest",
    "git_sha", "env", "published_at", "published_by"}.
    """
    from release.gitops import records as release_records

    _required_env(env, "the manifest to record in (staging, prod or local)")
    with console.humans_on_stderr(json):
        result = release_records.record_releases(Path(records), env)
    release_records.render(result, as_json=json)


@task(iterable=["service"], help=flags.PROMOTE)
@handles_errors
def promote(c, from_="staging", env="", service=None, dry_run=False, json=False):
    """Copy one environment's exact digests into another's.

    Re-tags each image <env>-<tag> inside the registry (ECR: batch_get_image +
    put_image; local: registry HTTP API) - no pull, push or rebuild - then commits
    gitops/versions/<env>.json. --dry-run: the same checks, then the list only.
    Exit 0 promoted (dry run: nothing to do), 1 failed or nothing to promote,
    2 usage, 3 a dry run with something to promote.
    --json: {"from", "env", "dry_run", "manifest", "commit" (null in a dry run),
    "message", "promoted": [{"service", "version", "previous_version", "digest",
    "previous_digest", "from_tag", "tag"}], "unchanged": [service]}.
    """
    from release.gitops import promote as promotion

    _required_env(env, "the environment to promote into, e.g. --env prod")
    with console.humans_on_stderr(json):  # e.g. the local registry being started
        result = promotion.promote(from_, env, tuple(service or ()), dry_run=dry_run)
    promotion.render(result, as_json=json)
    exit_with(result.exit_code)


@task(iterable=["service"], help=flags.HISTORY)
@handles_errors
def history(c, env="", service=None, json=False):
    """Show who deployed what, when (newest first).

    From the git log of the manifests. Exit 0 (also with no events), 2 usage.
    --json: {"environments": [env], "services": [service] (empty: all), "events":
    [{"env", "service", "action", "when", "who", "commit", "committed_at",
    "subject", "from_version", "from_digest", "to_version", "to_digest",
    "to_image", "changed"}], "notes": [line]}.
    """
    from release.cli import history as history_cmd

    history_cmd.render(history_cmd.report(env, tuple(service or ())), as_json=json)


@task(iterable=["service"], help=flags.ROLLBACK)
@handles_errors
def rollback(
    c,
    env="",
    service=None,
    to="",
    steps=0,
    no_deploy=False,
    dry_run=False,
    json=False,
    host="",
    project="",
):
    """Restore a service's earlier release, then deploy it.

    The earlier manifest entry becomes a new commit: other services are untouched and
    no history is rewritten. The deploy is the usual health-gated rolling update of
    that one service (--no-deploy stops after the commit; --dry-run before it).
    Exit 0 done (dry run: already on it), 1 failed or nothing to roll back,
    2 usage, 3 a dry run with a change, 4 deploy lock held.
    --json: {"env", "service", "dry_run", "manifest", "commit" (null in a dry run),
    "message", "from": ENTRY, "to": ENTRY, "deploy": the deploy's --json document
    or null}; ENTRY: the manifest entry {"image", "version", "git_sha",
    "deployed_at", "deployed_by", "replicas", "feature_flags"}.
    """
    from release.cli import deploy as deploy_cmd
    from release.gitops import rollback as rolling_back

    _required_env(env, "the environment to roll back, e.g. --env prod")
    name = _one_service(service, "rollback")
    with console.humans_on_stderr(json):
        result = rolling_back.rollback(
            env, name, to_version=to or None, steps=int(steps), dry_run=dry_run
        )
        if dry_run or no_deploy:
            rolling_back.render(result, as_json=json)
            exit_with(result.exit_code)
            return
        request = deploy_cmd.DeployRequest(
            env, services=(name,), host=host, project=project, as_json=json
        )
        if json:  # one document on stdout: the deploy's nested in the rollback's
            with rolling_back.json_with_deploy(result):
                code = deploy_cmd.deploy(request)
        else:
            rolling_back.render(result)
            code = deploy_cmd.deploy(request)
    exit_with(code)


def _required_env(env: str, what: str) -> None:
    # Invoke cannot make a keyword flag required: without this, a forgotten --env
    # would write to whatever the default names.
    if not env:
        raise UsageError(f"--env is required: {what}")


def _one_service(services, task_name: str) -> str:
    """`--service` is repeatable everywhere; this task acts on one at a time."""
    names = list(dict.fromkeys(services or ()))
    if len(names) > 1:
        raise UsageError(
            f"{task_name} takes one --service at a time, not {', '.join(names)}"
        )
    return names[0] if names else ""
