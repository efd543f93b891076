"""`./inv graph`, `./inv module-map`, `./inv new-service`: generated parts."""

from pathlib import Path

from invoke import task

from release.base import console
from release.change import readme_graph
from release.cli import flags
from release.cli.handler import handles_errors


@task(help=flags.GRAPH)
@handles_errors
def graph(c, write=False):
    """Print the service → shared-code graph Pants infers.

    --write refreshes the block in README.md; a test fails when it is stale.
    """
    if write:
        changed = readme_graph.update_readme()
        console.info("README.md graph " + ("updated" if changed else "already current"))
    else:
        print(readme_graph.render(readme_graph.query_pants()))


@task(help=flags.MODULE_MAP)
@handles_errors
def module_map(c, write=False):
    """Print the release tooling's module map.

    Generated from the docstrings (each package's, then each module's first
    sentence). `./inv lint` fails when the map in build-support/release/README.md
    is stale."""
    from release.devenv import module_map as mapping

    if write:
        changed = mapping.update_readme()
        console.info(
            f"{mapping.README.relative_to(Path.cwd().resolve())} module map "
            + ("updated" if changed else "already current")
        )
    else:
        print(mapping.render(mapping.sections()))


@task(help=flags.NEW_SERVICE)
@handles_errors
def new_service(c, name):
    """Scaffold a new service from the template.

    From build-support/service-template/.

    Writes services/<name>/ (FastAPI app on common.http, CLI, version, tests, a BUILD
    whose macro also generates its Dockerfile), adds its entry to
    gitops/compose.base.yaml and its route to gitops/proxy/haproxy.cfg, and refreshes
    the README's dependency graph. Refuses a name that is invalid or taken, changing
    nothing.
    """
    from release.devenv import scaffold

    scaffold.render(scaffold.new_service(name))


@task(help=flags.CLI_REFERENCE)
@handles_errors
def cli_reference(c, write=False):
    """Check (or --write) the generated CLI and exit-code docs.

    docs/reference/cli.md comes from the tasks' help, docs/reference/exit-codes.md
    from the exit-code table. `./inv lint` fails when either is stale, or when a
    command example in README.md or docs/ names a task or flag that does not exist.
    """
    from release.cli import suite
    from release.cli import reference

    if write:
        changed = reference.write()
        console.info(
            "rewrote " + ", ".join(str(p.relative_to(Path.cwd())) for p in changed)
            if changed
            else "docs/reference is current"
        )
    suite.lint_docs()
