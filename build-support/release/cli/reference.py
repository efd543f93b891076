"""docs/reference/cli.md and docs/reference/exit-codes.md, generated from the tasks'
own help (docstrings and flag help) and the exit-code table, so they cannot drift
from the code: `./inv cli-reference --write` rewrites them, `./inv lint` fails when
they are stale."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from release.base import exit_codes
from release.base.errors import ConfigError
from release.base.layout import ROOT

REFERENCE = ROOT / "docs" / "reference"
CLI = REFERENCE / "cli.md"
EXIT_CODES = REFERENCE / "exit-codes.md"


@dataclass(frozen=True)
class Flag:
    spelling: str  # "--env ENV", "--dry-run", "ACTION"
    help: str
    default: str  # "" when none worth showing


def _flags(task) -> list[Flag]:
    flags = []
    for arg in task.get_arguments():
        name = arg.name.replace("_", "-")
        help_text = " ".join((arg.help or "").split())
        if arg.positional:
            flags.append(Flag(name.upper(), help_text, ""))
            continue
        takes = arg.kind is not bool  # a list is a repeatable string
        spelling = f"--{name}" + (f" {name.upper()}" if takes else "")
        if arg.kind is list:
            spelling += " (repeatable)"
        default = arg.default
        shown = "" if default in (None, "", False, [], 0) or not takes else str(default)
        flags.append(Flag(spelling, help_text, shown))
    return flags


def render_cli(groups: dict, tasks: dict) -> str:
    """The CLI reference: every task, by group, with its help and flags."""
    out = [
        "# CLI reference",
        "",
        "<!-- generated from the tasks' help by ./inv cli-reference --write; "
        "./inv lint fails when stale -->",
        "",
        "Every command is `./inv TASK [--flags]`. `./inv --list` lists the tasks, "
        "`./inv --help TASK` (or `./inv TASK --help`) shows one. Errors are one "
        "`error:` line on stderr; the exit codes are in "
        "[exit-codes.md](exit-codes.md). `--json` prints the result on stdout and "
        "the progress on stderr.",
        "",
    ]
    for group, (about, names) in groups.items():
        out += [f"## {group}: {about}", ""]
        for name in names:
            out += _task_section(tasks[name])
    return "\n".join(out).rstrip() + "\n"


def _task_section(task) -> list[str]:
    doc = (task.__doc__ or "").strip().splitlines()
    first, rest = doc[0], [line.strip() for line in doc[1:]]
    body = " ".join(" ".join(rest).split())
    out = [f"### {task.name}", "", first, ""]
    if body:
        out += [body, ""]
    flags = _flags(task)
    if flags:
        out += ["| flag | meaning | default |", "| --- | --- | --- |"]
        for f in flags:
            default = f"`{f.default}`" if f.default else ""
            out.append(f"| `{f.spelling}` | {f.help} | {default} |")
        out.append("")
    return out


def _tasks():
    """The tasks, freshly made: invoke hands each flag's help to the parser once
    and forgets it (Task.get_arguments pops it), so tasks that `./inv` has already
    parsed would show no help."""
    import importlib
    import sys

    if "tasks" not in sys.modules:
        import tasks as task_list  # made now: their help is whole
    else:
        for name, module in sorted(sys.modules.items()):
            if name.startswith("release.cli.tasks."):
                importlib.reload(module)
        task_list = importlib.reload(sys.modules["tasks"])
    return task_list.GROUPS, task_list.namespace.tasks


def rendered() -> dict[Path, str]:
    groups, tasks = _tasks()
    return {
        CLI: render_cli(groups, tasks),
        EXIT_CODES: exit_codes.render_markdown(),
    }


def stale() -> list[Path]:
    return [
        p for p, text in rendered().items() if not p.exists() or p.read_text() != text
    ]


def check() -> None:
    """Raises ConfigError naming the stale pages."""
    old = stale()
    if old:
        raise ConfigError(
            ", ".join(str(p.relative_to(ROOT)) for p in old)
            + " stale: run ./inv cli-reference --write"
        )


def write() -> list[Path]:
    """Rewrites the stale pages; returns them."""
    changed = stale()
    pages = rendered()
    for path in changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(pages[path])
    return changed
