"""Tasks for the ecotrack monorepo. Run `./inv --list`, or `./inv --help <task>`.

This file only parses flags and calls the release tooling (build-support/release).
"""

import sys
from pathlib import Path

from invoke import task

sys.path.insert(0, str(Path(__file__).resolve().parent / "build-support"))

from release import checks, console, depgraph, stack  # noqa: E402
from release.cli import handles_errors  # noqa: E402


def _stack_options(env, port, project=""):
    return stack.StackOptions(env=env, project=project, proxy_port=int(port))


@task(
    help={
        "env": "environment under gitops/environments (default: local)",
        "port": "port of the proxy entry point on 127.0.0.1 (default: 8080)",
        "project": "Compose project name (default: ecotrack-<env>)",
    }
)
@handles_errors
def up(c, env="local", port=8080, project=""):
    """Build every image with Pants and run the whole stack behind the proxy.

    Bootstraps what is missing and says so: the Docker engine (starts dockerd, or
    installs Debian's docker.io as root), the base image (debootstrap when none can
    be pulled), images, secrets; then waits until every service is ready through the
    proxy.
    """
    opts = _stack_options(env, port, project)
    stack.render_status(opts, stack.up(opts))


@task(
    help={
        "env": "environment (default: local)",
        "project": "Compose project name (default: ecotrack-<env>)",
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
        changed = depgraph.update_readme()
        console.info("README.md graph " + ("updated" if changed else "already current"))
    else:
        print(depgraph.render(depgraph.query_pants()))


@task
@handles_errors
def lint(c):
    """Run black and flake8 over the whole repo through Pants (./pants lint ::)."""
    checks.lint()


@task(
    help={
        "unit_only": "skip the end-to-end tests (no Docker needed)",
        "e2e_only": "run only the end-to-end tests",
        "pytest_args": "extra arguments for the end-to-end pytest run, e.g. '-k proxy'",
    }
)
@handles_errors
def test(c, unit_only=False, e2e_only=False, pytest_args=""):
    """Run the whole suite: lint, unit tests with coverage (Pants), then end-to-end.

    End-to-end tests build the images, start their own Compose project (own name, ports
    and volumes, so a stack from `./inv up` is left alone) and clean up afterwards.
    """
    if not e2e_only:
        checks.lint()
        checks.unit()
    if not unit_only:
        checks.end_to_end(pytest_args.split())
