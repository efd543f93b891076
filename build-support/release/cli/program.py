"""`./inv` itself: invoke's Program, with the project's CLI conventions on top.

- `--list` shows the tasks in groups (develop, release, operate; tasks.py's GROUPS);
- `./inv TASK --help` is the same as `./inv --help TASK` (a task that takes an
  action would otherwise read `--help` as its action);
- a command line invoke cannot parse (an unknown flag, a flag without its value) is
  a usage error: one `error:` line and exit 2, like every other usage error.
"""

from __future__ import annotations

import sys

from invoke import Exit, ParseError, Program, __version__

from release.base import exit_codes


class EcotrackProgram(Program):
    def parse_core(self, argv):
        argv = list(sys.argv if argv is None else argv)
        super().parse_core(_help_first(argv))

    def parse_tasks(self):
        try:
            super().parse_tasks()
        except ParseError as exc:
            raise Exit(message=f"error: {exc}", code=exit_codes.USAGE) from None

    def list_flat(self):
        groups = _groups()
        if not groups:
            return super().list_flat()
        tasks = self.scoped_collection.tasks
        print("Tasks (./inv TASK --flags; ./inv --help TASK explains one):\n")
        width = max(len(name) for name in tasks)
        for group, (about, names) in groups.items():
            print(f"{group}: {about}")
            for name in names:
                line = (tasks[name].__doc__ or "").strip().splitlines()[0]
                print(f"  {name:<{width}}  {line}")
            print()


def _help_first(argv: list[str]) -> list[str]:
    """`inv TASK ... --help` → `inv --help TASK`."""
    binary, rest = argv[:1], argv[1:]
    if "--help" in rest and rest and not rest[0].startswith("-"):
        return binary + ["--help", rest[0]]
    return argv


def _groups() -> dict:
    try:
        from tasks import GROUPS
    except ImportError:
        return {}
    return GROUPS


program = EcotrackProgram(
    name="ecotrack", binary="./inv", binary_names=["inv"], version=__version__
)

if __name__ == "__main__":
    program.run()
