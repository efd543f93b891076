import pytest

from release.base import exit_codes
from release.base.errors import UsageError
from release.cli import deploy, lock, program


def test_task_help_after_the_task_is_the_same_as_before_it():
    assert program._help_first(["inv", "fleet", "--help"]) == ["inv", "--help", "fleet"]
    assert program._help_first(["inv", "lock", "status", "--help"]) == [
        "inv",
        "--help",
        "lock",
    ]
    assert program._help_first(["inv", "--list"]) == ["inv", "--list"]
    assert program._help_first(["inv", "--help", "deploy"]) == [
        "inv",
        "--help",
        "deploy",
    ]


@pytest.mark.parametrize(
    "dry_run, parallel, said",
    [(True, 0, "--dry-run with --canary"), (False, 2, "--parallel with --canary")],
)
def test_a_canary_refuses_the_flags_it_cannot_honour(dry_run, parallel, said):
    with pytest.raises(UsageError, match=said) as e:
        deploy.refuse_with_canary(dry_run=dry_run, parallel=parallel)
    assert e.value.exit_code == exit_codes.USAGE
    deploy.refuse_with_canary(dry_run=False, parallel=0)  # a plain canary goes on


@pytest.mark.parametrize(
    "action, message, said",
    [
        ("steal", "", "unknown lock action 'steal'"),
        ("hold", "  ", "lock hold needs -m MESSAGE"),
        ("release", "why", "-m is for lock hold"),
    ],
)
def test_lock_refuses_bad_input_before_reaching_a_host(action, message, said):
    with pytest.raises(UsageError, match=said):
        lock.command(action, "local", message=message)


def test_every_code_has_a_name_and_the_reference_lists_them():
    page = exit_codes.render_markdown()
    for code, (name, _, _) in exit_codes.TABLE.items():
        assert f"| {code} | {name} |" in page
    assert exit_codes.name(3) == "differs" and exit_codes.name(9) == "exit 9"
