"""`./inv up`, `./inv down`, `./inv doctor`: the local environment and this machine."""

from pathlib import Path

from invoke import task

from release.cli import flags
from release.cli import up as stack
from release.cli.handler import exit_with, handles_errors


def _stack_options(env, port, project="", manifest="", tls_port=0, internal_port=0):
    return stack.StackOptions(
        env=env,
        project=project,
        proxy_port=int(port),
        tls_port=int(tls_port),
        internal_port=int(internal_port),
        manifest=Path(manifest) if manifest else None,
    )


@task(help=flags.UP)
@handles_errors
def up(
    c,
    env="local",
    port=8080,
    project="",
    manifest="",
    tls_port=8443,
    internal_port=8081,
):
    """Run the local environment, GitOps from the first command.

    Bootstraps this machine and says each step (Debian packages as root, the pip
    constraint, dockerd, the base image with debootstrap), then the local pipeline:
    build what changed
    with Pants, push it to the local registry, record the digests in
    gitops/versions/local.json, and deploy that manifest with the same zero-downtime
    rolling update as `./inv deploy`. Run again: only what changed is rolled.
    The proxy serves HTTPS with a certificate from a local CA that up makes once (it
    prints where the CA is, for curl --cacert); plain HTTP stays, locally only.
    """
    opts = _stack_options(env, port, project, manifest, tls_port, internal_port)
    stack.render_status(opts, stack.up(opts))


@task(help=flags.DOCTOR)
@handles_errors
def doctor(c, profile="test", json=False):
    """Show what this machine lacks for ./inv up and test.

    One row per need: found, will install (Debian package, as root), will fix (the
    site-wide pip constraint that breaks pex), will start (dockerd) or missing (with
    the exact instruction). Changes nothing. Exit 0 only when all is ready, else 1;
    2 an unknown profile.
    --json: {"profile", "ready", "checks": [{"need", "state", "detail"}], "will_do":
    [what ./inv up/test will do, in order], "problems": [what to do by hand]}.
    """
    from release.cli import doctor as checkup

    exit_with(checkup.render(profile, checkup.report(profile), as_json=json))


@task(help=flags.DOWN)
@handles_errors
def down(c, env="local", project="", volumes=False):
    """Stop the local stack (its data stays unless --volumes).

    Removes the Compose project's containers and networks; --volumes also deletes
    its data volumes.
    """
    stack.down(_stack_options(env, 8080, project), volumes=volumes)
