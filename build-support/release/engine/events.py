"""How a deploy shows itself: the plan, a line per step of each service, a final
table, or one JSON document (`--json`, with the human lines on stderr).

Built on base/console.py's consoles so every task renders the same way.
"""

from __future__ import annotations

import json
import sys
import threading

from rich.table import Table

from release.base import console
from release.plan.plan import Plan


class Reporter:
    """Prints progress as it happens. In JSON mode everything human goes to stderr,
    so stdout carries exactly one JSON document."""

    def __init__(self, as_json: bool = False):
        self.as_json = as_json
        self.human = console.err if as_json else console.out
        self._lock = threading.Lock()

    def _print(self, *args, **kwargs) -> None:
        with self._lock:
            self.human.print(*args, **kwargs)

    def info(self, message: str) -> None:
        self._print(f"[bold cyan]»[/] {message}")

    def note(self, message: str) -> None:
        self._print(f"  [dim]{message}[/]", markup=True)

    def step(self, service: str, step: str, message: str) -> None:
        self._print(
            f"  [bold]{service:<13}[/] [cyan]{step:<15}[/] {message}",
            markup=True,
            soft_wrap=True,
        )

    def plan(self, plan: Plan) -> None:
        t = Table(
            title=f"plan for {plan.environment} (project {plan.project})",
            title_justify="left",
        )
        for c in ("service", "action", "live", "desired", "why", "health"):
            t.add_column(c)
        for s in plan.services:
            t.add_row(
                s.service,
                s.action if s.managed else "none (unmanaged)",
                s.live.short() if s.live else "-",
                s.desired.short() if s.desired else "-",
                ", ".join(s.reasons),
                s.health,
            )
        with self._lock:
            self.human.print(t)
            self.human.print(
                "in sync: nothing to do"
                if plan.in_sync
                else f"{len(plan.changes)} change(s): "
                + ", ".join(f"{s.service} ({s.action})" for s in plan.changes)
            )

    def result(self, result) -> None:
        if self.as_json:
            sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
            sys.stdout.flush()
        if result.dry_run:
            return
        t = Table(
            title=f"deploy of {result.environment} ({result.project}): "
            + ("ok" if result.ok else "FAILED"),
            title_justify="left",
        )
        for c in ("service", "action", "from → to", "duration", "result"):
            t.add_column(c)
        for o in result.outcomes:
            t.add_row(
                o.service,
                o.action,
                f"{o.from_} → {o.to}",
                f"{o.duration:.1f}s",
                o.result + (f": {o.detail.splitlines()[0]}" if o.detail else ""),
            )
        with self._lock:
            self.human.print(t)
