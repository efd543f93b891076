"""What a change affects, gathered: what changed (git) and the target graph (Pants),
asked of the pure core (change/affected.py).

Steps: merge_base → changes → graphs (head, and the merge-base's when something was
deleted) → contents of the lockfiles, requirements and deploy files that changed →
affected.compute → a Report (cli/affected.py renders it; publish selects with it).

A change that deletes a module some file still imports leaves Pants unable to build
the working tree's graph; the merge-base's graph then stands in, with a warning, so
that the users of the module are affected and their CI jobs show Pants' error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from release.adapters import pants_graph, worktree_git
from release.base import console
from release.base.layout import ROOT, services
from release.change import affected
from release.change.affected import Change, Inputs, Result
from release.model.target_graph import Graph

_STATUS = {
    "A": "added",
    "C": "added",
    "M": "modified",
    "T": "modified",
    "U": "modified",
}


@dataclass(frozen=True)
class Report:
    since: str
    merge_base: str
    changes: tuple[Change, ...]
    result: Result
    graph_notes: tuple[str, ...] = ()


def to_changes(file_changes: list[worktree_git.FileChange]) -> tuple[Change, ...]:
    """git's name-status → Changes; a rename is a deleted old path plus an added new
    one (a copy only adds the new one)."""
    out: dict[tuple[str, str], Change] = {}
    for fc in file_changes:
        if fc.status == "R":
            out[(fc.old_path, "deleted")] = Change(fc.old_path, "deleted", fc.path)
            out[(fc.path, "added")] = Change(fc.path, "added", fc.old_path)
        elif fc.status == "D":
            out[(fc.path, "deleted")] = Change(fc.path, "deleted")
        else:
            status = _STATUS.get(fc.status, "modified")
            out[(fc.path, status)] = Change(fc.path, status)
    return tuple(sorted(out.values(), key=lambda c: (c.path, c.status)))


def _head_text(path: str, committed_only: bool, root: Path) -> str | None:
    if committed_only:
        return worktree_git.read_at("HEAD", path, root)
    try:
        return (root / path).read_text()
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
        return None


def report(since: str, committed_only: bool = False, root: Path = ROOT) -> Report:
    base = worktree_git.merge_base(since, root)
    changes = to_changes(worktree_git.changed_files(base, committed_only, root))
    notes: list[str] = []
    head, broken = _head_graph(changes, root, notes)
    base_graph = _base_graph(base, changes, root, notes)
    if broken:
        # CI must still run the jobs of the services that used the deleted module, so
        # that they fail with Pants' error: the merge-base's graph stands in for the
        # working tree's (it lacks only the edges this change adds).
        head = base_graph
    names = tuple(s.name for s in services(root))
    inputs = Inputs(changes=changes, services=names, head=head, base=base_graph)
    texts = {
        p: (worktree_git.read_at(base, p, root), _head_text(p, committed_only, root))
        for p in sorted(affected.content_paths(inputs))
    }
    inputs = Inputs(
        changes=changes, services=names, head=head, base=base_graph, texts=texts
    )
    result = affected.compute(inputs)
    if broken:
        _warn_deleted_import(broken, result)
    return Report(since, base, changes, result, tuple(notes))


def _head_graph(
    changes: tuple[Change, ...], root: Path, notes: list[str]
) -> tuple[Graph | None, pants_graph.UnownedImportError | None]:
    """The working tree's graph, or (None, the failure) when Pants cannot build it
    because the change deletes a module that is still imported. Any other failure of
    Pants is raised: one error line."""
    if not affected.needs_graph(changes):
        return None, None
    try:
        load = pants_graph.working_tree_graph(root, announce=console.note)
    except pants_graph.UnownedImportError as exc:
        if not affected.deleted_modules_imported(changes, exc.modules):
            raise
        notes.append("graph of the working tree: none (import of a deleted module)")
        return None, exc
    notes.append(f"graph of the working tree: {_how(load)}")
    return load.graph, None


def _base_graph(
    base: str, changes: tuple[Change, ...], root: Path, notes: list[str]
) -> Graph | None:
    if not affected.needs_base_graph(changes):
        return None
    load = pants_graph.graph_at(base, root, announce=console.note)
    notes.append(f"graph at the merge-base: {_how(load)}")
    return load.graph


def _warn_deleted_import(exc: pants_graph.UnownedImportError, result: Result) -> None:
    names = ", ".join(result.include) or "none"
    console.note(
        "warning: the working tree's dependency graph could not be built: "
        f"{exc.importer} imports {', '.join(exc.modules)}, deleted by this change; "
        f"affected from the merge-base's graph: {names} "
        "(their jobs run and fail with Pants' error until the import is fixed)"
    )


def _how(load: pants_graph.GraphLoad) -> str:
    where = "cache" if load.cached else "./pants peek ::"
    return f"{len(load.graph.targets)} targets from {where} in {load.seconds:.2f}s"
