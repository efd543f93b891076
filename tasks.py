"""The tasks of the ecotrack monorepo: `./inv --list`, `./inv --help TASK`.

Each task lives with its command in build-support/release/cli/tasks/ (flags in, one
call into a stage, rendering out); this file is only the list.
"""

from invoke import Collection

from release.cli.tasks import agent, deploy, machines, release, repo, stack, suite

namespace = Collection(
    stack.up,
    stack.doctor,
    stack.down,
    repo.graph,
    repo.module_map,
    repo.new_service,
    suite.lint,
    suite.bench,
    suite.test,
    release.affected,
    release.publish,
    release.record,
    release.promote,
    release.history,
    release.rollback,
    deploy.deploy,
    deploy.lock,
    deploy.drift,
    agent.agent,
    machines.cache,
    machines.fleet,
)
