"""`./inv lint`, `./inv test`, `./inv bench`: checks and measurements."""

import shlex

from invoke import task

from release.cli import flags, suite
from release.cli.handler import exit_with, handles_errors


@task
@handles_errors
def lint(c):
    """Lint workflows, module map, docs, imports and code.

    The workflow files (actionlint and the replay's check), the module map, the
    generated docs/reference and the docs' command examples, and the import
    contract of the release tooling, then black and flake8 over the whole repo
    through Pants (./pants lint ::)."""
    from release.machine import bootstrap

    suite.prepare_machine(bootstrap.LINT)
    suite.lint()


@task(positional=["names"], help=flags.BENCH)
@handles_errors
def bench(c, names=None, args=""):
    """Run the benches: figures and ratios, side by side.

    `./inv bench [NAME,...]`: tables on stdout,
    bench/results/<name>.json and a PNG per case beside it. Exit 1: a target missed."""
    # None, not "": invoke fills an optional positional only while its value is None.
    exit_with(
        suite.bench([n for n in (names or "").split(",") if n], shlex.split(args))
    )


@task(help=flags.TEST)
@handles_errors
def test(c, unit_only=False, e2e_only=False, pytest_args=""):
    """Run the whole suite: lint, unit, then end-to-end.

    Lint, unit tests with coverage (Pants), then the end-to-end tests on Docker.

    End-to-end tests build the images, start their own Compose project (own name, ports
    and volumes, so a stack from `./inv up` is left alone) and clean up afterwards.
    """
    suite.prepare_machine()
    if not e2e_only:
        suite.lint()
        suite.unit()
    if not unit_only:
        suite.end_to_end(shlex.split(pytest_args))
