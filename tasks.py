"""The tasks of the ecotrack monorepo: `./inv --list`, `./inv --help TASK`.

Each task lives with its command in build-support/release/cli/tasks/ (flags in, one
call into a stage, rendering out); this file is only the list, in the groups
`./inv --list` shows (build-support/release/cli/program.py prints them).
"""

from invoke import Collection

from release.cli.tasks import (
    agent,
    deploy,
    machines,
    operate,
    release,
    repo,
    stack,
    suite,
)

GROUPS = {
    "develop": (
        "run it here, change it, test it",
        [
            stack.up,
            stack.down,
            stack.doctor,
            suite.test,
            suite.lint,
            suite.bench,
            repo.graph,
            repo.new_service,
            repo.module_map,
            repo.cli_reference,
            machines.cache,
        ],
    ),
    "release": (
        "from a change to manifest commits",
        [
            release.affected,
            release.publish,
            release.record,
            release.promote,
            release.history,
            release.rollback,
        ],
    ),
    "operate": (
        "what runs on the hosts",
        [
            deploy.deploy,
            operate.status,
            deploy.drift,
            operate.audit,
            deploy.lock,
            agent.agent,
            machines.fleet,
        ],
    ),
}

namespace = Collection(*(t for _, tasks in GROUPS.values() for t in tasks))
# --list prints names; the groups keep their order
GROUPS = {
    g: (about, [t.name.replace("_", "-") for t in tasks])
    for g, (about, tasks) in GROUPS.items()
}
