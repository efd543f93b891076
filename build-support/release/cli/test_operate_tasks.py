"""`./inv audit` and `./inv status` through invoke's own parser: usage errors are one
`error:` line and exit 2, before any Docker host is reached."""

import pytest
from invoke import Collection, Program

from release.cli.tasks import operate

TASKS = Collection(operate.audit, operate.status)


def inv(capsys, *argv: str) -> tuple[int, list[str]]:
    with pytest.raises(SystemExit) as exit_:
        Program(namespace=TASKS, binary="inv").run(["inv", *argv])
    return exit_.value.code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["audit", "--limit", "0"], "--limit must be 1 or more (got 0)"),
        (["audit", "--env", "qa"], "unknown environment 'qa'"),
        (["status", "--env", "qa"], "unknown environment 'qa'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(capsys, argv, message):
    code, lines = inv(capsys, *argv)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_the_help_documents_the_json_schemas():
    for t in (operate.audit, operate.status):
        first, _, rest = t.__doc__.partition("\n")
        assert len(first) < 60 and "--json" in rest and '"hosts"' in rest
