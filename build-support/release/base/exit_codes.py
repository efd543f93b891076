"""The one exit-code table of every `./inv` command (docs/reference/exit-codes.md is
generated from it, and the workflows read these codes).

"Differs" is apart from "failure" so that a script can tell "there is work to do"
(a dry run with changes, drift, a canary its verdict aborted) from "it broke", the
way `terraform plan -detailed-exitcode` does.
"""

from __future__ import annotations

OK = 0
FAILURE = 1
USAGE = 2
DIFFERS = 3
LOCKED = 4
NOT_RUNNING = 5
INTERRUPTED = 130

# code → (name, meaning, examples), in the order the reference lists them
TABLE: dict[int, tuple[str, str, str]] = {
    OK: ("ok", "done, or nothing to do", "a deploy that rolled out; a dry run in sync"),
    FAILURE: (
        "failure",
        "the command ran and failed",
        "a failed health gate (rolled back); a registry or git error",
    ),
    USAGE: (
        "usage error",
        "the command was asked for something that does not exist or does not fit",
        "an unknown environment or service; a missing --env; --dry-run with --canary",
    ),
    DIFFERS: (
        "differs",
        "the target is not what the manifest says, or would change",
        "deploy/promote/rollback --dry-run with changes; drift found; a canary "
        "aborted by its verdict; status not in sync",
    ),
    LOCKED: (
        "locked",
        "another deploy holds the environment's deploy lock",
        "deploy, rollback or lock hold while someone deploys",
    ),
    NOT_RUNNING: (
        "not running",
        "there is nothing running to report on",
        "cache status with the cache stopped; fleet status with no fleet; status "
        "with no container of the project",
    ),
    INTERRUPTED: (
        "interrupted",
        "Ctrl-C or SIGTERM; a deploy in flight is rolled back and the lock released",
        "a cancelled CI job",
    ),
}


def name(code: int) -> str:
    return TABLE[code][0] if code in TABLE else f"exit {code}"


def render_markdown() -> str:
    """docs/reference/exit-codes.md (`./inv cli-reference --write` keeps it fresh)."""
    lines = [
        "# Exit codes",
        "",
        "<!-- generated from build-support/release/base/exit_codes.py by "
        "./inv cli-reference --write -->",
        "",
        "Every `./inv` command exits with one of these codes; an error is one "
        "`error: ...` line on stderr.",
        "",
        "| code | name | meaning | for example |",
        "| --- | --- | --- | --- |",
    ]
    for code, (label, meaning, examples) in TABLE.items():
        lines.append(f"| {code} | {label} | {meaning} | {examples} |")
    lines += [
        "",
        "The workflows read them: the plan step of `.github/workflows/deploy-env.yml` "
        "goes on after 0 (in sync) and 3 (changes) and stops on anything else, so a "
        'mistyped environment (2) is never read as "changes".',
    ]
    return "\n".join(lines) + "\n"
