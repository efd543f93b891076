"""Per-service progress of a multi-service command (publish: build → push → record).

On a terminal, one live table; in logs (CI) one line per stage change, so a slow
step shows which service it is on. Renders through release.base.console's consoles.
"""

from __future__ import annotations

from rich.console import Console
from rich.live import Live
from rich.table import Table

from release.base import console

STYLES = {
    "waiting": "dim",
    "build": "yellow",
    "push": "yellow",
    "record": "yellow",
    "done": "green",
    "unchanged": "dim",
    "failed": "bold red",
}


class Board:
    def __init__(self, title: str, names: list[str], to_stderr: bool = False) -> None:
        self.title = title
        self.stages = {n: ("waiting", "") for n in names}
        self.target: Console = console.err if to_stderr else console.out
        self._live: Live | None = None

    def __enter__(self) -> "Board":
        if self.target.is_terminal:
            self._live = Live(
                self._table(),
                console=self.target,
                refresh_per_second=4,
                transient=False,
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def set(self, name: str, stage: str, detail: str = "") -> None:
        self.stages[name] = (stage, detail)
        if self._live is not None:
            self._live.update(self._table())
        else:
            style = STYLES.get(stage, "")
            self.target.print(
                f"  {name:<12} [{style}]{stage:<8}[/] {detail}".rstrip(),
                soft_wrap=True,
            )

    def set_all(self, names: list[str], stage: str, detail: str = "") -> None:
        for n in names:
            self.set(n, stage, detail)

    def _table(self) -> Table:
        t = Table(title=self.title, title_justify="left")
        for col in ("service", "stage", "detail"):
            t.add_column(col)
        for name, (stage, detail) in self.stages.items():
            t.add_row(name, f"[{STYLES.get(stage, '')}]{stage}[/]", detail)
        return t
