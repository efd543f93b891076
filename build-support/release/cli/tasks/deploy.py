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
    hosts_file="",
    force=False,
    lock_lease=60.0,
):
    """Roll the manifest out: plan, then a health-gated update.

    Exit 0 done (or in sync), 1 failed and rolled back, 3 a dry run with changes,
    4 locked (or lost to another deploy mid-way). --json: the result
    ({"environment", "plan", "outcomes", "exit_code", ...}; a fleet: {"hosts":
    [...]}) on stdout, progress on stderr.
    Per HTTP service: new replicas beside the old, wait until healthy, switch the
    proxy, drain, stop and remove the old by ID; the worker restarts stop-first. A
    failed health gate removes the new containers and exits 1.
    With hosts.yaml (a fleet): host by host in batches, one lock; the first failed
    host stops the deploy (exit 1, naming it) and later hosts are untouched.
    The lock is a lease (--lock-lease) renewed while the deploy runs: an expired
    one is taken over, --force takes a live one (a warning names its holder);
    a deploy whose lock was taken over stops before its next change (exit 4).
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
        hosts_file,
        bool(force),
        float(lock_lease),
    )
    if int(canary):
        # A dry run of a canary would still start replicas; lanes mean nothing
        # for one service: refused rather than silently ignored.
        deploy_cmd.refuse_with_canary(
            dry_run=dry_run, parallel=int(parallel), force=bool(force)
        )
        code = deploy_cmd.canary(
            request, int(canary), float(canary_window), float(max_error_rate)
        )
    else:
        code = deploy_cmd.deploy(request)
    exit_with(code)


@task(positional=["action"], help=flags.LOCK)
@handles_errors
def lock(
    c, action, env="local", message="", project="", host="", hosts_file="", json=False
):
    """Show, hold or release the environment's deploy lock.

    Finds it wherever the target keeps it: the host, a fleet's first host, a
    Swarm's manager. A deploy holds it as a lease it renews; `hold -m WHY` keeps
    every deploy out, without expiry, until `release` (which also ends a running
    deploy's lease: it stops at its next step).
    --json: {"action", "project", "lock_host", "held", "released"}, where held and
    released are {"holder", "machine", "pid", "since", "version", "message",
    "token", "lease_s", "expired", ...} or null. Exit 4 when `hold` finds it held.
    """
    from release.cli import lock as lock_cmd

    lock_cmd.command(action, env, project, host, hosts_file, message, json)


@task(help=flags.DRIFT)
@handles_errors
def drift(c, env="local", json=False, project="", host="", manifest="", hosts_file=""):
    """Compare the manifest (desired) with what runs: exit 3 drifted.

    Exit 0 in sync. --json: {"in_sync", "findings": [{"service", "kind",
    "detail"}], ...}; a fleet: {"in_sync", "hosts": [...]}.

    Finds wrong image digests, missing or extra replicas, containers outside the
    Compose project, changed Compose config, flags or env file, stopped or unhealthy
    containers. On a Swarm (hosts.yaml `target: swarm`): its tasks, and a paused or
    rolled-back update.
    """
    from release.cli import drift as drift_cmd

    code = drift_cmd.run(env, json, project, host, manifest, hosts_file)
    exit_with(code)
