"""Benchmark of shape, not speed: the way one `./inv` task walks through the release
tooling's modules, traced with sys.setprofile (every thread).

    ./inv bench walk --args='deploy --env local --service recycling'

The task runs in this process, for real (a deploy deploys). Each call from one
`release.*` module into another is an edge of the walk; imports are not calls. The
walk is printed as a tree of module paths, each path once, in the order first taken,
with how many calls took it:

    cli.deploy
      targets.environment
        targets.fleet.hosts ×1

and then the figures: `paths` (rooms visited, each once per way in), `modules`, and
the modules entered from more than one caller module (`entered from N places`): a
one-way walk (task → command → target → session → engine → adapters and back) enters
a stage's module from one place; shared leaves (the console, the error tree) from
many. Exit 0 always: a walk is described, not judged.
"""

from __future__ import annotations

import shlex
import sys
import threading
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "release."
IMPORT = "(import)"


class Walk:
    def __init__(self) -> None:
        self.paths: dict[tuple[str, ...], int] = {}  # first-seen order, call counts
        self._stacks: dict[int, list[str]] = {}
        self._lock = threading.Lock()

    def profile(self, frame, event, arg):
        if event not in ("call", "return"):
            return
        module = frame.f_globals.get("__name__", "")
        importing = frame.f_code.co_name == "<module>"
        if not importing and (not module.startswith(PACKAGE) or ".test_" in module):
            return
        with self._lock:
            stack = self._stacks.setdefault(threading.get_ident(), [])
            if event == "return":
                if stack:
                    stack.pop()
                return
            # What a module runs while it is imported is not part of the walk.
            if not importing and IMPORT not in stack:
                if not stack or stack[-1] != module:
                    path = tuple(_collapse(stack + [module]))
                    self.paths[path] = self.paths.get(path, 0) + 1
            stack.append(IMPORT if importing else module)

    def tree_order(self) -> list[tuple[str, ...]]:
        """Every path after its parent, siblings in the order first taken."""
        children: dict[tuple[str, ...], list[tuple[str, ...]]] = defaultdict(list)
        for path in self.paths:
            for i in range(1, len(path) + 1):
                if path[:i] not in children[path[: i - 1]]:
                    children[path[: i - 1]].append(path[:i])
        out: list[tuple[str, ...]] = []

        def visit(parent: tuple[str, ...]) -> None:
            for child in children[parent]:
                out.append(child)
                visit(child)

        visit(())
        return out

    def figures(self) -> dict:
        callers: dict[str, set[str]] = defaultdict(set)
        for path in self.paths:
            callers[path[-1]].add(path[-2] if len(path) > 1 else "(task)")
        shared = {m: sorted(c) for m, c in callers.items() if len(c) > 1}
        return {"paths": len(self.paths), "modules": len(callers), "shared": shared}


def _collapse(stack: list[str]) -> list[str]:
    return [m for i, m in enumerate(stack) if i == 0 or stack[i - 1] != m]


def short(module: str) -> str:
    return module[len(PACKAGE) :]


def main(argv: list[str]) -> int:
    # `--out FILE` may come anywhere (./inv bench appends it after the task line).
    out = None
    if "--out" in argv:
        i = argv.index("--out")
        out, argv = argv[i + 1], argv[:i] + argv[i + 2 :]
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    words = argv or shlex.split("deploy --env local --dry-run")
    from invoke import Collection, Program

    import tasks

    walk = Walk()
    threading.setprofile(walk.profile)
    sys.setprofile(walk.profile)
    try:
        code = Program(namespace=Collection.from_module(tasks)).run(
            ["inv", *words], exit=False
        )
    except SystemExit as exc:  # the task's own exit code
        code = exc.code
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    print(
        f"\nwalk of ./inv {' '.join(words)}" + (f" (exit {code})" if code else "") + ":"
    )
    for path in walk.tree_order():
        calls = walk.paths.get(path, 0)
        print("  " * len(path) + short(path[-1]) + (f" ×{calls}" if calls > 1 else ""))
    figures = walk.figures()
    print(f"paths {figures['paths']}, modules {figures['modules']}")
    for module, callers in figures["shared"].items():
        names = ", ".join(short(c) if c.startswith(PACKAGE) else c for c in callers)
        print(f"  {short(module)} entered from {len(callers)} places: {names}")
    if out:
        import json

        Path(out).write_text(
            json.dumps(
                {
                    "task": words,
                    "exit": code,
                    "paths": [[list(p), n] for p, n in walk.paths.items()],
                    **figures,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
