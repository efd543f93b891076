"""Every `./inv ...` command example in README.md and docs/ names a task and flags
that exist: each is parsed with invoke's own parser against the real tasks, the way
`./inv` would parse it. `./inv lint` (through `./inv cli-reference`) and
tests/test_doc_examples.py run the check."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from release.base.errors import ConfigError
from release.base.layout import ROOT

INLINE = re.compile(r"`(\./inv(?: [^`]*)?)`")
FENCE = re.compile(r"^\s*```")
# where a shell line (or a diagram's arrow) stops being the ./inv command
SHELL_END = re.compile(r"\s(?:#|\|\|?|&&|;|>|2>|[─│►▼])\s?|\)\"?$|\)\s")


@dataclass(frozen=True)
class Example:
    path: Path
    line: int
    text: str  # "./inv deploy --env staging"


def pages(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def examples(path: Path) -> list[Example]:
    """The ./inv commands of one page: in code blocks (continuation lines joined,
    shell comments and pipes cut off) and in inline code."""
    found, fenced, pending = [], False, ""
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            line = pending + line
            pending = ""
            if line.rstrip().endswith("\\"):
                pending = line.rstrip()[:-1] + " "
                continue
            start = line.find("./inv ")
            if start < 0 and line.strip().endswith("./inv"):
                start = line.find("./inv")
            if start >= 0:
                found.append(Example(path, n, _command(line[start:])))
            continue
        for m in INLINE.finditer(line):
            found.append(Example(path, n, _command(m.group(1))))
    return found


def _command(text: str) -> str:
    cut = SHELL_END.search(text)
    return (text[: cut.start()] if cut else text).strip()


def argv(text: str) -> list[str]:
    """The words ./inv gets, with a page's notation read as one choice: `[--x]` is
    kept, `a|b` is its first alternative, `...` is dropped."""
    text = text.replace("[", " ").replace("]", " ")
    words = shlex.split(text)[1:]  # without ./inv
    return [_value(w.split("|")[0]) for w in words if w not in ("...", "…")]


PLACEHOLDER = re.compile(r"^(?:[A-Z][A-Z0-9_]*|\$\{?\w+\}?|<[^>]+>)$")


def _value(word: str) -> str:
    """A placeholder (N, ENV, $BASE, <dir>) stands for any value: "1" parses as
    every kind of flag value (int, float, string)."""
    return "1" if PLACEHOLDER.match(word) else word


def problem(example: Example, program) -> str | None:
    """Why invoke would refuse the command (None: it parses)."""
    from invoke import ParseError
    from invoke.parser import Parser

    try:
        words = argv(example.text)
        named = shlex.split(example.text.replace("[", " ").replace("]", " "))[1:]
    except ValueError as exc:
        return f"cannot be split as a shell would: {exc}"
    if not named or PLACEHOLDER.match(named[-1] if named[0] == "--help" else named[0]):
        return None  # `./inv`, `./inv TASK ...`: the program or any task
    if len(named) == 1 and not named[0].startswith("-"):
        # a task named in prose (`./inv agent`)
        known = named[0] in program.collection.tasks
        return None if known else f"no task named '{named[0]}'"
    parser = Parser(
        initial=program.initial_context, contexts=program.collection.to_contexts()
    )
    try:
        parsed = parser.parse_argv(words)
    except ParseError as exc:
        return str(exc)
    except ValueError as exc:  # a flag's value of the wrong kind
        return f"a flag's value: {exc}"
    core = parsed[0]
    if core.args.help.value or core.args.list.value:
        help_for = core.args.help.value
        if isinstance(help_for, str) and help_for not in program.collection.tasks:
            return f"no task named '{help_for}'"
        return None
    if len(parsed) < 2:
        return "names no task"
    for ctx in parsed[1:]:
        for name, arg in ctx.args.items():
            if arg.positional and arg.value is None:
                return f"{ctx.name} needs {name.upper()}"
    return None


def loaded_program():
    from invoke import Collection

    import tasks as task_list
    from release.cli.program import program

    program.collection = Collection.from_module(task_list)
    return program


def problems(root: Path = ROOT) -> list[str]:
    program = loaded_program()
    out = []
    for page in pages(root):
        for ex in examples(page):
            why = problem(ex, program)
            if why:
                out.append(f"{ex.path.relative_to(root)}:{ex.line}: `{ex.text}`: {why}")
    return out


def check(root: Path = ROOT) -> None:
    found = problems(root)
    if found:
        raise ConfigError(
            f"{len(found)} command example(s) in the docs do not parse:\n"
            + "\n".join(found)
        )
