"""The one renderer: progress lines, tables and errors on the terminal."""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from contextvars import ContextVar

from rich.console import Console
from rich.markup import escape
from rich.table import Table

# Without a terminal (CI logs, pipes) rich would wrap tables at 80 columns.
_WIDTH = None if sys.stdout.isatty() else 160
out = Console(highlight=False, width=_WIDTH)
err = Console(stderr=True, highlight=False, width=_WIDTH)
# Where what is said to humans goes: stdout, or stderr while a command prints data
# there (humans_on_stderr). Scoped to the block that asks, never swapped globally.
_human: ContextVar[Console] = ContextVar("human", default=out)


def info(message: str) -> None:
    _human.get().print(f"[bold cyan]»[/] {message}")


def detail(message: str) -> None:
    _human.get().print(f"  [dim]{message}[/]")


def data(text: str) -> None:
    """Machine-readable output (names, JSON) on stdout, exactly as given."""
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    sys.stdout.flush()


def json_result(data: object) -> None:
    """A command's result as JSON on stdout: sorted keys, two-space indent."""
    out.print(
        json.dumps(data, indent=2, sort_keys=True),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def note(message: str) -> None:
    """Progress that must not mix with data on stdout."""
    err.print(message, style="dim", markup=False, soft_wrap=True)


def error(message: str) -> None:
    first, _, rest = message.partition("\n")
    # The message is text, not markup: "[a-z]" in a schema pattern must survive.
    err.print(f"[bold red]error:[/] {escape(first)}", markup=True, soft_wrap=True)
    if rest:
        err.print(rest, style="dim", markup=False, soft_wrap=True)


@contextmanager
def step(message: str):
    """Prints what is about to happen, then how long it took."""
    info(message)
    started = time.monotonic()
    yield
    detail(f"done in {time.monotonic() - started:.1f}s")


def table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*[str(v) for v in r])
    _human.get().print(t)


def is_tty() -> bool:
    return sys.stdout.isatty()


@contextmanager
def humans_on_stderr(enabled: bool = True):
    """While a command prints data (--json) on stdout, everything said to humans
    (info, detail, step, tables) goes to stderr."""
    token = _human.set(err if enabled else _human.get())
    try:
        yield
    finally:
        _human.reset(token)
