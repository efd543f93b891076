"""`./inv audit`, `./inv status`: what was deployed, what runs now."""

from invoke import task

from release.cli import flags
from release.cli.handler import exit_with, handles_errors


@task(iterable=["service"], help=flags.AUDIT)
@handles_errors
def audit(
    c,
    env="local",
    hosts_file="",
    host="",
    project="",
    service=None,
    limit=20,
    json=False,
):
    """Show the deploy log kept on the hosts, newest first.

    Every deploy attempt (ok, failed, refused, rolled_back) is kept on the target
    itself, in a volume <project>-deploy-log on the Docker host (each host of a
    fleet, a Swarm's manager), so it outlives the machine that deployed. An entry
    the host could not take is kept on this machine and shown as such. Exit 0; 1
    when a host's log could not be read (the others' are still shown).
    --json (stdout; notes on stderr):
      {"environment", "project", "target": "host"|"fleet"|"swarm", "limit",
       "matching": entries that matched before --limit,
       "hosts": [{"name", "endpoint", "entries", "error"}],
       "entries": [{"id", "at", "finished_at", "env", "project", "host",
         "fleet_host"?, "by", "result": "ok"|"failed"|"refused"|"rolled_back",
         "reason", "commit", "manifest_committed",
         "releases": {ENTRY: {"version", "digest"}},
         "services": [{"service", "action", "from", "to", "result", "detail",
           "duration_s"}], "duration_s", "schema": 1,
         "log_host": the host whose log holds it, "kept": "host"|"local"}]}
    """
    from release.cli import audit as audit_cmd

    code = audit_cmd.run(
        env, hosts_file, host, project, tuple(service or ()), int(limit), json
    )
    exit_with(code)


@task(help=flags.STATUS)
@handles_errors
def status(c, env="local", hosts_file="", host="", project="", manifest="", json=False):
    """Show what runs per host and service, lock, last deploy.

    Per host and service: the version and digest running, replicas ready of the
    manifest's, drift (the findings of ./inv drift); per host: the deploy lock's
    holder and the last deploy from the log on the host (./inv audit). Exit 0 in
    sync and ready; 3 drifted or not ready; 5 no container of the project runs.
    A held lock is shown, not an exit code.
    --json (stdout; notes on stderr):
      {"environment", "project", "target": "host"|"fleet"|"swarm", "deployed",
       "in_sync", "ready", "exit_code",
       "hosts": [{"name", "endpoint", "deployed", "in_sync", "ready", "findings",
         "lock": null | {"holder", "machine", "pid", "since", "version",
           "message", "project", "env", "token", "lease_s", "expired",
           "description"},
         "last_deploy": null | {"id", "at", "by", "result", "reason", "commit",
           "log_host", "kept"},
         "log_error",
         "services": [{"service", "version", "desired_version", "digest",
           "desired_digest", "ready", "running", "desired",
           "sync": "IN_SYNC"|"OUT_OF_SYNC"|"UNKNOWN", "health", "findings",
           "kinds": [drift kinds]}]}]}
    """
    from release.cli import status as status_cmd

    code = status_cmd.run(env, hosts_file, host, project, manifest, json)
    exit_with(code)
