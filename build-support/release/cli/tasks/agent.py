"""`./inv agent`: the pull-based reconciler."""

from pathlib import Path

from invoke import task

from release.cli import flags
from release.cli.handler import exit_with, handles_errors


@task(help=flags.AGENT)
@handles_errors
def agent(
    c,
    repo,
    env="local",
    branch="main",
    interval=30.0,
    self_heal=False,
    listen="127.0.0.1:8790",
    once=False,
    project="",
    host="",
    health_timeout=120.0,
    state_dir="",
    hosts_file="",
    token_file="",
):
    """Keep the hosts on a branch's manifest (pull-based).

    Watches a branch of the GitOps repository.

    Deploys a new commit's changed services with the rollout engine, once per commit
    (a failed one waits for a new commit or a manual deploy); --self-heal repairs
    drift. Logs JSON lines; serves /status, /metrics and a dashboard (off loopback
    only with a bearer token: --token-file, or one generated in the state
    directory). With a fleet (hosts.yaml) it observes every host and deploys host by
    host in batches; the status and the dashboard show each host.
    """
    from release.agent.config import AgentConfig
    from release.cli import agent as agent_cli

    code = agent_cli.run(
        AgentConfig(
            env=env,
            repo=repo,
            branch=branch,
            interval=float(interval),
            self_heal=self_heal,
            listen=listen,
            once=once,
            project=project,
            host=host,
            health_timeout=float(health_timeout),
            home=Path(state_dir) if state_dir else None,
            hosts=hosts_file,
            token_file=token_file,
        )
    )
    exit_with(code)
