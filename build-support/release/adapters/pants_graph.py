"""The Pants target graph of a source tree: one `./pants peek ::` per tree, cached.

`peek ::` prints every target with its dependencies (inferred ones included) and its
source files, so one call answers every question about every changed file; with
pantsd warm it takes about a second at this repo's size.

Cache: one JSON file per tree under ~/.cache/ecotrack/graph (or $ECOTRACK_GRAPH_CACHE;
"off" disables it). The key is what the graph is a function of: the content of every
file Pants reads (a commit's tree id, or for the working tree that id plus the hashes
of every changed and untracked-not-ignored file), the PANTS_* environment and Pants'
rc files. The same content always gives the same graph, so a hit is always safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from release.adapters import proc, worktree_git
from release.base.errors import CommandError, GraphError
from release.base.layout import ROOT
from release.model.target_graph import Graph

CACHE_FORMAT = 1
CACHE_ENV = "ECOTRACK_GRAPH_CACHE"
CACHE_KEEP = 64  # newest graphs kept
PEEK = ["peek", "--exclude-defaults", "::"]
PANTSRC_FILES = (Path("/etc/pantsrc"), Path.home() / ".pants.rc")
PEX_TOOL = Path("build-support/bin/pex")  # built by ./pants, ignored by git


Announce = Callable[[str], None] | None


@dataclass(frozen=True)
class GraphLoad:
    graph: Graph
    cached: bool
    seconds: float


class UnownedImportError(GraphError):
    """Pants stopped at an import that no file of the tree provides (pants.toml:
    unowned_dependency_behavior = "error"), typically of a module the change deleted.
    Pants reports the first such target only."""

    def __init__(self, importer: str, modules: tuple[str, ...]):
        self.importer = importer  # the file with the import
        self.modules = modules
        super().__init__(
            "Pants could not compute the dependency graph: "
            f"{importer} imports {', '.join(modules)}, which no file in the tree "
            "provides (UnownedDependencyError)"
        )


def cache_dir() -> Path | None:
    setting = os.environ.get(CACHE_ENV, "")
    if setting.lower() in ("off", "0", "false", "no"):
        return None
    if setting:
        return Path(setting)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ecotrack" / "graph"


def _environment_digest() -> str:
    h = hashlib.sha256(f"format {CACHE_FORMAT}\0".encode())
    for k in sorted(k for k in os.environ if k.startswith("PANTS_")):
        h.update(f"{k}={os.environ[k]}\0".encode())
    for f in PANTSRC_FILES:
        if f.is_file():
            h.update(f.read_bytes())
    return h.hexdigest()


def cache_key(tree_identity: str) -> str:
    return hashlib.sha256(
        f"{tree_identity}\0{_environment_digest()}".encode()
    ).hexdigest()


def _cached(
    key: str, compute: Callable[[], Graph], announce: Announce, what: str
) -> GraphLoad:
    started = time.monotonic()
    directory = cache_dir()
    path = directory / f"{key}.json" if directory else None
    if path and path.is_file():
        try:
            graph = Graph.from_json(json.loads(path.read_text()))
            os.utime(path)
            return GraphLoad(graph, True, time.monotonic() - started)
        except (OSError, ValueError, KeyError, TypeError):
            pass  # unreadable: computed again and rewritten below
    if announce:
        announce(
            f"computing the dependency graph of {what} with Pants (./pants peek ::)"
        )
    graph = compute()
    if path:
        _store(path, graph)
    return GraphLoad(graph, False, time.monotonic() - started)


def _store(path: Path, graph: Graph) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(graph.to_json(), separators=(",", ":")))
        os.replace(tmp, path)
        entries = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for old in entries[:-CACHE_KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # a cache that cannot be written only costs time


_NAMED_ERROR = re.compile(r"^[A-Z]\w*(Error|Exception)\b")
# "UnownedDependencyError: Pants cannot infer owners for the following imports in the
# target services/x/x_service/main.py:../lib:", then one "  * core.geo (line: 5)" each.
_UNOWNED = re.compile(
    r"^UnownedDependencyError: .* in the target (?P<importer>\S+?):?\n"
    r"\s*(?P<imports>(?:\* .*\n?\s*)+)",
    re.MULTILINE,
)
_IMPORT = re.compile(r"^\s*\* (?P<module>[\w.]+)", re.MULTILINE)


def peek_all(buildroot: Path, pantsd: bool = True) -> list[dict]:
    """Every target of the tree at `buildroot`, as `./pants peek` prints it."""
    cmd = [str(buildroot / "pants"), *([] if pantsd else ["--no-pantsd"]), *PEEK]
    try:
        r = proc.run(cmd, cwd=buildroot, timeout=1800, check=False)
    except CommandError as exc:  # not installed, or timed out
        raise GraphError(
            f"Pants could not compute the dependency graph: {exc}"
        ) from exc
    if r.returncode != 0:
        raise peek_failure(f"{r.stderr}\n{r.stdout}", r.returncode)
    try:
        data = json.loads(r.stdout)
    except json.JSONDecodeError as exc:
        raise GraphError(f"unexpected output from './pants peek ::' ({exc})") from exc
    return data


def peek_failure(output: str, returncode: int) -> GraphError:
    """Why `./pants peek` failed, in one line: typed when the caller can act on it
    (an unowned import), else the last named error (or last line) Pants printed."""
    m = _UNOWNED.search(output)
    if m:
        modules = tuple(_IMPORT.findall(m.group("imports")))
        importer = m.group("importer").partition(":")[0]  # the file, not its target
        return UnownedImportError(importer, modules)
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    named = [ln for ln in lines if _NAMED_ERROR.match(ln)]
    why = (named or lines or [f"./pants peek exited {returncode}"])[-1]
    return GraphError(f"Pants could not compute the dependency graph: {why}")


def working_tree_graph(root: Path = ROOT, announce: Announce = None) -> GraphLoad:
    """The graph of the working tree as it is (uncommitted and untracked included)."""
    key = cache_key(worktree_git.working_tree_key(root))
    return _cached(
        key, lambda: Graph.from_peek(peek_all(root)), announce, "the working tree"
    )


def graph_at(commit: str, root: Path = ROOT, announce: Announce = None) -> GraphLoad:
    """The graph of a commit, computed in a temporary export of its tree (Pants can
    only read files, and a deleted file exists only there)."""
    key = cache_key(worktree_git.tree_of(commit, root))

    def compute() -> Graph:
        with tempfile.TemporaryDirectory(prefix="ecotrack-graph-") as tmp:
            tree = Path(tmp) / "tree"
            worktree_git.export_tree(commit, tree, root)
            if (root / PEX_TOOL).is_file():  # saves rebuilding Pants' pex tool
                (tree / PEX_TOOL).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(root / PEX_TOOL, tree / PEX_TOOL)
            try:
                return Graph.from_peek(peek_all(tree, pantsd=False))
            except GraphError as exc:
                raise GraphError(f"at the merge-base {commit[:12]}: {exc}") from exc

    return _cached(key, compute, announce, f"the merge-base {commit[:12]}")
