"""`./inv affected`, `publish`, `record`, `promote`, `history`, `rollback`: a change
becomes a manifest entry in git."""

from pathlib import Path

from invoke import task

from release.cli import flags
from release.cli.handler import exit_with, handles_errors


@task(help=flags.AFFECTED)
@handles_errors
def affected(c, since, committed_only=False, json=False, explain=False):
    """Print the services a change affects, from the Pants dependency graph.

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
    """Build changed services with Pants, push them, record their digests.

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
def record(c, records, env="staging"):
    """Record published images in an environment's manifest as one commit.

    Reads the release records, checks them all (format, environment, service, image
    and digest, one image per service) before touching anything, then writes
    gitops/versions/<env>.json and commits it. Idempotent: images the manifest already
    names, and records older than its entry, change nothing (no commit).
    """
    from release.gitops import records as release_records

    release_records.render(release_records.record_releases(Path(records), env))


@task(iterable=["service"], help=flags.PROMOTE)
@handles_errors
def promote(c, from_="staging", to="prod", service=None):
    """Copy the exact image digests of one environment into another's manifest.

    Re-tags each image <to>-<tag> inside the registry (ECR: batch_get_image +
    put_image; local: registry HTTP API) - no pull, push or rebuild - then commits.
    """
    from release.gitops import promote as promotion

    promotion.render(promotion.promote(from_, to, tuple(service or ())))


@task(help=flags.HISTORY)
@handles_errors
def history(c, env="", service="", json=False):
    """Show who deployed what, when: git log of the manifests, newest first."""
    from release.cli import history as history_cmd

    history_cmd.render(history_cmd.report(env, service), as_json=json)


@task(help=flags.ROLLBACK)
@handles_errors
def rollback(c, env, service, to="", steps=0, no_deploy=False, host="", project=""):
    """Restore a service's earlier manifest entry as a new commit, then deploy it.

    Other services are untouched and no history is rewritten. The deploy is the usual
    health-gated rolling update of that one service (--no-deploy stops after the
    commit).
    """
    from release.cli import deploy as deploy_cmd
    from release.gitops import rollback as rolling_back

    rolling_back.render(
        rolling_back.rollback(env, service, to_version=to or None, steps=int(steps))
    )
    if no_deploy:
        return
    request = deploy_cmd.DeployRequest(
        env, services=(service,), host=host, project=project
    )
    exit_with(deploy_cmd.deploy(request))
