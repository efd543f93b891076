"""`./inv deploy`, `./inv lock`, `./inv drift`: from the manifest to the hosts."""

from invoke import task

from release.cli import flags
from release.cli.handler import exit_with, handles_errors


@task(iterable=["service"], help=flags.DEPLOY)
@handles_errors
def deploy(
    c,
    env="local",
    service=None,
    dry_run=False,
    host="",
    json=False,
    parallel=0,
    health_timeout=120.0,
    project="",
    manifest="",
    port=0,
    canary=0,
    canary_window=60.0,
    max_error_rate=0.01,
    hosts="",
):
    """Make the Docker host run the manifest: plan, then a health-gated rolling update.

    Per HTTP service: new replicas beside the old, wait until healthy, switch the
    proxy, drain, stop and remove the old by ID; the worker restarts stop-first. A
    failed health gate removes the new containers and exits 1. Exit 4: locked.
    With hosts.yaml (a fleet): host by host in batches, one lock; the first failed
    host stops the deploy (exit 1, naming it) and later hosts are untouched.
    With hosts.yaml `target: swarm`: a stack file and `docker stack deploy`; Swarm
    rolls start-first and rolls a failing service back (exit 1, naming it).
    """
    from release.cli import deploy as deploy_cmd

    request = deploy_cmd.DeployRequest(
        env,
        tuple(service or ()),
        dry_run,
        host,
        json,
        int(parallel),
        float(health_timeout),
        project,
        manifest,
        int(port),
        hosts,
    )
    if int(canary):
        code = deploy_cmd.canary(
            request, int(canary), float(canary_window), float(max_error_rate)
        )
    else:
        code = deploy_cmd.deploy(request)
    exit_with(code)


@task(positional=["action"], help=flags.LOCK)
@handles_errors
def lock(c, action, env="local", project="", host=""):
    """Show or release the deploy lock kept on the Docker host."""
    from release.cli import deploy as deploy_cmd

    deploy_cmd.lock_command(action, env, project, host)


@task(help=flags.DRIFT)
@handles_errors
def drift(c, env="local", json=False, project="", host="", manifest="", hosts=""):
    """Compare the manifest (desired) with the Docker host (live): exit 0 in sync,
    1 drifted.

    Finds wrong image digests, missing or extra replicas, containers outside the
    Compose project, changed Compose config, flags or env file, stopped or unhealthy
    containers. On a Swarm (hosts.yaml `target: swarm`): its tasks, and a paused or
    rolled-back update.
    """
    from release.cli import drift as drift_cmd

    code = drift_cmd.run(env, json, project, host, manifest, hosts)
    exit_with(code)
