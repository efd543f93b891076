"""Tasks for the ecotrack monorepo. Run `./inv --list`, or `./inv --help <task>`.

This file only parses flags and calls the release tooling (build-support/release).
"""

import shlex
from pathlib import Path

from invoke import Exit, task

from release.base import console
from release.change import readme_graph
from release.cli import suite
from release.cli import up as stack
from release.cli.handler import handles_errors

# Help texts that several tasks share.
PROJECT = "Compose project name (default: ecotrack-<env>)"
HOST = "Docker host, e.g. ssh://user@host (default: DOCKER_HOST or local)"
MANIFEST = "manifest file (default: gitops/versions/<env>.json)"


def _exit(code: int) -> None:
    """The one way a task ends with a non-zero code it computed."""
    if code:
        raise Exit(code=code)


def _stack_options(env, port, project="", manifest=""):
    return stack.StackOptions(
        env=env,
        project=project,
        proxy_port=int(port),
        manifest=Path(manifest) if manifest else None,
    )


@task(
    help={
        "env": "environment: local, the only one `up` runs (default: local)",
        "port": "port of the proxy entry point on 127.0.0.1 (default: 8080)",
        "project": PROJECT,
        "manifest": "the local manifest file (default: gitops/versions/local.json)",
    }
)
@handles_errors
def up(c, env="local", port=8080, project="", manifest=""):
    """Run the local environment, GitOps from the first command.

    Bootstraps this machine and says each step (Debian packages as root, the pip
    constraint, dockerd, the base image with debootstrap), then the local pipeline:
    build what changed
    with Pants, push it to the local registry, record the digests in
    gitops/versions/local.json, and deploy that manifest with the same zero-downtime
    rolling update as `./inv deploy`. Run again: only what changed is rolled.
    """
    opts = _stack_options(env, port, project, manifest)
    stack.render_status(opts, stack.up(opts))


@task(
    help={
        "profile": "what to check for: test (default: the suite's needs), bench, up, "
        "build, fleet, engine or pants",
    }
)
@handles_errors
def doctor(c, profile="test"):
    """Show what this machine has and lacks for ./inv up and ./inv test.

    One row per need: found, will install (Debian package, as root), will fix (the
    site-wide pip constraint that breaks pex), will start (dockerd) or missing (with
    the exact instruction). Changes nothing. Exit 0 only when all is ready.
    """
    from release.cli import doctor as checkup

    _exit(checkup.render(profile, checkup.report(profile)))


@task(
    help={
        "env": "environment (default: local)",
        "project": PROJECT,
        "volumes": "also delete the data volumes",
    }
)
@handles_errors
def down(c, env="local", project="", volumes=False):
    """Stop and remove the stack's containers (data volumes stay unless --volumes)."""
    stack.down(_stack_options(env, 8080, project), volumes=volumes)


@task(help={"write": "rewrite the graph block in README.md instead of printing it"})
@handles_errors
def graph(c, write=False):
    """Print the service → shared-module dependency graph that Pants infers."""
    if write:
        changed = readme_graph.update_readme()
        console.info("README.md graph " + ("updated" if changed else "already current"))
    else:
        print(readme_graph.render(readme_graph.query_pants()))


@task(
    help={
        "write": "rewrite the map in build-support/release/README.md instead of "
        "printing it"
    }
)
@handles_errors
def module_map(c, write=False):
    """Print the release tooling's module map, generated from the docstrings (each
    package's, then each module's first sentence). `./inv lint` fails when the map in
    build-support/release/README.md is stale."""
    from release.devenv import module_map as mapping

    if write:
        changed = mapping.update_readme()
        console.info(
            f"{mapping.README.relative_to(Path.cwd().resolve())} module map "
            + ("updated" if changed else "already current")
        )
    else:
        print(mapping.render(mapping.sections()))


@task(help={"name": "the service's name: lowercase letters and digits, e.g. billing"})
@handles_errors
def new_service(c, name):
    """Scaffold a working service from build-support/service-template/.

    Writes services/<name>/ (FastAPI app on common.http, CLI, version, tests, a BUILD
    whose macro also generates its Dockerfile), adds its entry to
    gitops/compose.base.yaml and its route to gitops/proxy/haproxy.cfg, and refreshes
    the README's dependency graph. Refuses a name that is invalid or taken, changing
    nothing.
    """
    from release.devenv import scaffold

    scaffold.render(scaffold.new_service(name))


@task
@handles_errors
def lint(c):
    """Lint the workflow files (actionlint and the replay's check), the module map
    and the import contract of the release tooling, then black and flake8 over the
    whole repo through Pants (./pants lint ::)."""
    from release.machine import bootstrap

    suite.prepare_machine(bootstrap.LINT)
    suite.lint()


@task(
    positional=["names"],
    help={
        "names": "comma-separated: loadgen,rollout,change_to_live,affected (default), "
        "publish, gitops, fleet, cache, heal, stalls, walk",
        "args": "arguments for the one bench named, e.g. --args='--rates 120,300' "
        "(its --help lists them)",
    },
)
@handles_errors
def bench(c, names=None, args=""):
    """Run the benches (`./inv bench [NAME,...]`): tables on stdout,
    bench/results/<name>.json and a PNG per case beside it. Exit 1: a target missed."""
    # None, not "": invoke fills an optional positional only while its value is None.
    _exit(suite.bench([n for n in (names or "").split(",") if n], shlex.split(args)))


@task(
    help={
        "unit_only": "skip the end-to-end tests (no Docker needed)",
        "e2e_only": "run only the end-to-end tests",
        "pytest_args": "extra arguments for the end-to-end pytest run, quoted as in a "
        "shell, e.g. \"-k 'proxy or drift'\"",
    }
)
@handles_errors
def test(c, unit_only=False, e2e_only=False, pytest_args=""):
    """Run the whole suite: lint, unit tests with coverage (Pants), then end-to-end.

    End-to-end tests build the images, start their own Compose project (own name, ports
    and volumes, so a stack from `./inv up` is left alone) and clean up afterwards.
    """
    suite.prepare_machine()
    if not e2e_only:
        suite.lint()
        suite.unit()
    if not unit_only:
        suite.end_to_end(shlex.split(pytest_args))


@task(
    help={
        "since": "git ref to compare with: changes since its merge-base with HEAD",
        "committed_only": "ignore uncommitted and untracked files",
        "json": "print the GitHub Actions matrix (include, deploy_only, test_only)",
        "explain": "print why each service is affected, and why other files are not",
    }
)
@handles_errors
def affected(c, since, committed_only=False, json=False, explain=False):
    """Print the services a change affects, from the Pants dependency graph.

    Rules and output formats: README.md, "Affected services". Exit 0 even when none.
    """
    from release.change.report import report
    from release.cli import affected as affected_cmd

    affected_cmd.render(
        report(since, committed_only=committed_only),
        as_json=json,
        explain=explain,
    )


@task(
    iterable=["service"],
    help={
        "since": "publish the services affected since this git ref",
        "service": "publish this service (repeatable); default: the services changed "
        "since the commit the environment's manifest records for them",
        "registry": "local (default: docker-registry on 127.0.0.1:5000) or ecr",
        "env": "manifest to record in: local (default, not committed), staging, prod",
        "json": "print the result as JSON (progress goes to stderr)",
        "release_out": "write one release record per service (<dir>/<service>.json) "
        "instead of recording: manifest and git stay as they are; apply them later "
        "with ./inv record (CI's fan-in job)",
    },
)
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


@task(
    positional=["records"],
    help={
        "records": "a release record file, or a directory of them (*.json, searched "
        "recursively), as written by ./inv publish --release-out",
        "env": "manifest to record in: staging (default), prod, local",
    },
)
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


@task(
    iterable=["service"],
    help={
        "from_": "environment whose digests to copy (default: staging)",
        "to": "environment to record them in (default: prod)",
        "service": "promote only this service (repeatable; default: all)",
    },
)
@handles_errors
def promote(c, from_="staging", to="prod", service=None):
    """Copy the exact image digests of one environment into another's manifest.

    Re-tags each image <to>-<tag> inside the registry (ECR: batch_get_image +
    put_image; local: registry HTTP API) - no pull, push or rebuild - then commits.
    """
    from release.gitops import promote as promotion

    promotion.render(promotion.promote(from_, to, tuple(service or ())))


@task(
    help={
        "env": "only this environment (default: staging and prod)",
        "service": "only this service",
        "json": "print the events as JSON",
    }
)
@handles_errors
def history(c, env="", service="", json=False):
    """Show who deployed what, when: git log of the manifests, newest first."""
    from release.cli import history as history_cmd

    history_cmd.render(history_cmd.report(env, service), as_json=json)


@task(
    help={
        "env": "environment (staging or prod: the ones kept in git)",
        "service": "the service to roll back",
        "to": "the earlier version to restore",
        "steps": "how many releases back (default: 1)",
        "no_deploy": "only write the manifest commit; do not deploy it",
        "host": HOST,
        "project": PROJECT,
    }
)
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
    _exit(deploy_cmd.deploy(request))


@task(
    iterable=["service"],
    help={
        "env": "environment whose manifest to deploy (default: local)",
        "service": "deploy only this service (repeatable; waste includes waste-worker)",
        "dry_run": "print the plan only: exit 2 when there are changes, 0 in sync",
        "host": HOST,
        "json": "print the result as JSON on stdout (progress goes to stderr)",
        "parallel": "roll up to N services side by side, each API still before its "
        "worker (default 0: one lane per two local CPUs, at most 4, fewer on a busy "
        "host, 1 for a remote engine; 1: one after another)",
        "health_timeout": "seconds new containers get to turn healthy (default: 120)",
        "project": PROJECT,
        "manifest": MANIFEST,
        "port": "proxy port when the proxy is (re)created (default: as it runs)",
        "hosts": "another hosts file, a fleet or a Swarm (default: the environment's "
        "gitops/environments/<env>/hosts.yaml, when it has one)",
        "canary": "canary first: start this many new replicas of the one --service "
        "beside the old, watch them, then promote or abort (exit 1)",
        "canary_window": "seconds to watch the canary (default: 60)",
        "max_error_rate": "canary aborts above this share of failed requests "
        "(default: 0.01)",
    },
)
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

    if int(canary):
        from release.cli import canary as canary_cmd

        deploy_cmd.require_one_host(env, hosts, "--canary")

        code = canary_cmd.command(
            env,
            list(service or ()),
            int(canary),
            float(canary_window),
            float(max_error_rate),
            host=host,
            as_json=json,
            health_timeout=float(health_timeout),
            project=project,
            manifest=manifest,
            port=int(port),
        )
        _exit(code)
        return
    code = deploy_cmd.deploy(
        deploy_cmd.DeployRequest(
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
    )
    _exit(code)


@task(
    positional=["action"],
    help={
        "action": "status (who holds it, since when, for which version) or release",
        "env": "environment (default: local)",
        "project": PROJECT,
        "host": HOST,
    },
)
@handles_errors
def lock(c, action, env="local", project="", host=""):
    """Show or release the deploy lock kept on the Docker host."""
    from release.cli import deploy as deploy_cmd

    deploy_cmd.lock_command(action, env, project, host)


@task(
    help={
        "env": "environment whose manifest to compare with the host (default: local)",
        "json": "print the findings as JSON",
        "project": PROJECT,
        "host": HOST,
        "manifest": MANIFEST,
        "hosts": "another hosts file, a fleet or a Swarm (default: the environment's "
        "gitops/environments/<env>/hosts.yaml, when it has one)",
    }
)
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
    _exit(code)


@task(
    help={
        "env": "environment whose manifest the agent keeps deployed (default: local)",
        "repo": "the GitOps repository to watch: a path or a git URL",
        "branch": "branch to follow (default: main)",
        "interval": "seconds between two looks at the branch and the host "
        "(default: 30)",
        "self_heal": "also repair drift (stopped, missing, changed containers)",
        "listen": "HOST:PORT of /status, /metrics and the dashboard "
        "(default: 127.0.0.1:8790; '' for none)",
        "once": "one pass, then exit (1 if it failed)",
        "project": PROJECT,
        "host": HOST,
        "health_timeout": "seconds new containers get to turn healthy (default: 120)",
        "state_dir": "where the agent keeps its clone and state "
        "(default: ~/.local/state/ecotrack/agent/<project>)",
        "hosts": "a hosts file for a fleet (default: the environment's "
        "gitops/environments/<env>/hosts.yaml in the watched repository, if any)",
    }
)
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
    hosts="",
):
    """Pull-based GitOps: watch a branch and keep the host running its manifest.

    Deploys a new commit's changed services with the rollout engine, once per commit
    (a failed one waits for a new commit or a manual deploy); --self-heal repairs
    drift. Logs JSON lines; serves /status, /metrics and a dashboard. With a fleet
    (hosts.yaml) it observes every host and deploys host by host in batches; the
    status and the dashboard show each host.
    """
    from release.agent import reconciler as reconcile
    from release.agent.config import AgentConfig

    code = reconcile.run(
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
            hosts=hosts,
        )
    )
    _exit(code)


@task(
    positional=["action"],
    help={
        "action": "up (start the BuildGrid cache server), down (stop it, data kept) "
        "or status (address, CAS size, hit rate; exit 3 when stopped)",
        "host": "address to bind (default: 127.0.0.1)",
        "port": "gRPC port (default: 50051)",
        "data_dir": "the cache's directory: config, tokens, CAS, log "
        "(default: ~/.local/state/ecotrack/cache)",
        "max_refs": "action cache entries kept, least recently used evicted "
        "(default: 200000)",
    },
)
@handles_errors
def cache(c, action, host="127.0.0.1", port=50051, data_dir="", max_refs=200000):
    """Run the shared Pants remote cache: a BuildGrid REAPI server (disk CAS, action
    cache, JWT auth: a writer token for trusted builds, a reader token for PRs).

    Builds use it through ECOTRACK_CACHE_ADDRESS and ECOTRACK_CACHE_TOKEN_FILE
    (+ ECOTRACK_CACHE_WRITE=true): README.md, "Remote build cache".
    """
    from release.cli import cache as cache_cmd

    _exit(cache_cmd.command(action, host, int(port), data_dir, int(max_refs)))


@task(
    positional=["action"],
    help={
        "action": "up (create the fleet, or keep the one that is up), down (remove "
        "everything it made) or status (exit 0 healthy, 1 broken, 3 none)",
        "hosts": "how many hosts `up` creates, 1 to 9 (default: 3)",
        "front_port": "the front HAProxy's port on 127.0.0.1 (default: 8090)",
        "proxy_port": "the port every host's proxy publishes inside its namespace: "
        "pass it to ./inv deploy --port (default: 8080)",
        "registry_port": "the local registry's port on 127.0.0.1, reachable inside "
        "every host (default: ECOTRACK_REGISTRY_PORT or 5000)",
        "batch_size": "batch_size in the hosts.yaml it writes (default: 1)",
    },
)
@handles_errors
def fleet(
    c, action, hosts=3, front_port=8090, proxy_port=8080, registry_port=0, batch_size=1
):
    """A simulated fleet on this machine: N Docker engines, each in a network
    namespace of its own with its own data root, each reached through a real sshd,
    and a front HAProxy on 127.0.0.1 in front of the hosts' proxies.

    `up` installs what it needs (iproute2, openssh-server, haproxy), writes a
    hosts.yaml for `./inv deploy --hosts FILE` and prints what it made and how to
    reach it. The machine's docker0 and main engine are never touched. State lives in
    ~/.local/state/ecotrack/fleet, so `status` and `down` find it from any shell.
    """
    from release.cli import fleet as fleet_sim_cmd

    _exit(
        fleet_sim_cmd.command(
            action,
            int(hosts),
            int(front_port),
            int(proxy_port),
            int(registry_port),
            int(batch_size),
        )
    )
