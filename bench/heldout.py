"""Held-out scenarios for bench/affected.py: random changes from a seed, and what they
truly affect, computed without Pants and without release/change/affected.py.

Ground truth, from the files alone:

- a service's image holds every module of its package (services/<s>/<s>_service/),
  the resources its BUILD file declares (`resource(source=...)`), every first-party
  module those import, transitively (Python's ast; imports resolved under the source
  roots of pants.toml: /, /shared, /services/*, /build-support, /3rdparty/python),
  the `__init__.py` of each package on the way, and the third-party projects they
  import with everything those require (requires_dists of the lockfile, extras left
  out);
- a service's tests (services/<s>/tests/) the same way, plus httpx (their BUILD
  macro adds it);
- a changed path affects a service's image (`include`) if it is in that closure
  before or after the change, or is the service's BUILD file, a BUILD file declaring
  modules of the closure, or a global build input (pants.toml, pants, the BUILD
  macros, the base image); a changed locked project, if the closure holds it;
  otherwise its tests (`test_only`) if their closure holds it;
- a service's block in gitops/compose.base.yaml → `deploy_only` for its manifest
  entry (waste-worker → waste), unless it is rebuilt anyway.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

SERVICES = ("auth", "locations", "recycling", "users", "waste")
ROOTS = ("", "shared", "build-support", "3rdparty/python")  # + services/<s>
LOCK = "3rdparty/python/default.lock"
REQUIREMENTS = "3rdparty/python/requirements.txt"
COMPOSE = "gitops/compose.base.yaml"
SETS = ("include", "test_only", "deploy_only")
GLOBAL = ("pants.toml", "pants", "build-support/macros.py")
GLOBAL_DIRS = ("build-support/base-image/",)
MODULE_OF = {"pyjwt": "jwt"}  # project → top-level module, where the names differ
TEST_EXTRA = ("httpx",)


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# -- the closures --------------------------------


@dataclass
class Closure:
    files: set[str] = field(default_factory=set)
    projects: set[str] = field(default_factory=set)


class Tree:
    """Files of one commit as the working tree has them (read-only)."""

    def __init__(self, root: Path):
        self.root = root
        self._cache: dict[str, tuple[list[str], int]] = {}

    def exists(self, rel: str) -> bool:
        return (self.root / rel).is_file()

    def read(self, rel: str) -> str:
        return (self.root / rel).read_text(encoding="utf-8", errors="replace")

    def glob(self, pattern: str) -> list[str]:
        return sorted(str(p.relative_to(self.root)) for p in self.root.glob(pattern))

    def imports(self, rel: str) -> tuple[list[str], int]:
        """(module names imported, package depth for relative ones) of a file."""
        if rel in self._cache:
            return self._cache[rel]
        names: list[str] = []
        try:
            tree = ast.parse(self.read(rel))
        except SyntaxError:
            tree = ast.Module(body=[], type_ignores=[])
        package = self._package_of(rel)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".") if package else []
                    parts = parts[: len(parts) - (node.level - 1)]
                    base = ".".join([*parts, *([base] if base else [])])
                names.append(base)
                names += [f"{base}.{a.name}" for a in node.names if a.name != "*"]
        self._cache[rel] = (names, 0)
        return self._cache[rel]

    def _package_of(self, rel: str) -> str:
        for root in self.roots():
            prefix = f"{root}/" if root else ""
            if rel.startswith(prefix):
                module = rel[len(prefix) :].removesuffix(".py").replace("/", ".")
                parts = module.split(".")
                return ".".join(parts[:-1])
        return ""

    def roots(self) -> list[str]:
        roots = [r for r in ROOTS if r]
        roots += [
            f"services/{p.name}" for p in sorted((self.root / "services").iterdir())
        ]
        return sorted(roots, key=len, reverse=True) + [""]

    def resolve(self, module: str) -> list[str]:
        """Files a module name stands for, under the source roots."""
        path = module.replace(".", "/")
        out = []
        for root in self.roots():
            prefix = f"{root}/" if root else ""
            for candidate in (f"{prefix}{path}.py", f"{prefix}{path}/__init__.py"):
                if self.exists(candidate):
                    out.append(candidate)
        return out

    def ancestors(self, rel: str) -> list[str]:
        """__init__.py files of the packages above a module, inside its root."""
        root = next(r for r in self.roots() if not r or rel.startswith(f"{r}/"))
        prefix = f"{root}/" if root else ""
        parts = rel[len(prefix) :].split("/")[:-1]
        return [
            f"{prefix}{'/'.join(parts[:i])}/__init__.py"
            for i in range(1, len(parts) + 1)
            if self.exists(f"{prefix}{'/'.join(parts[:i])}/__init__.py")
        ]


def lock_projects(text: str) -> dict[str, dict]:
    body = "\n".join(ln for ln in text.splitlines() if not ln.startswith("//"))
    data = json.loads(body)
    out = {}
    for r in data["locked_resolves"][0]["locked_requirements"]:
        out[norm(r["project_name"])] = r
    return out


def _requires(entry: dict) -> list[str]:
    """What a locked project requires on CPython 3.11 without extras."""
    from packaging.requirements import Requirement  # pants: no-infer-dep

    out = []
    for spec in entry.get("requires_dists", []):
        req = Requirement(spec)
        if req.marker is not None and not req.marker.evaluate(
            {"python_version": "3.11", "python_full_version": "3.11.2", "extra": ""}
        ):
            continue
        out.append(norm(req.name))
    return out


def closure(
    tree: Tree, seeds: Iterable[str], lock: dict[str, dict], extra: Iterable[str] = ()
) -> Closure:
    """First-party files reached from `seeds` by imports, and third-party projects."""
    module_to_project = {}
    for line in tree.read(REQUIREMENTS).splitlines():
        name = re.split(r"[\s;<>=!~\[]", line.strip(), maxsplit=1)[0]
        if name and not name.startswith("#"):
            module = MODULE_OF.get(norm(name), norm(name).replace("-", "_"))
            module_to_project[module] = norm(name)
    c = Closure()
    todo = [s for s in seeds if s.endswith(".py")]
    c.files |= set(seeds)
    top: set[str] = set(extra)
    while todo:
        rel = todo.pop()
        for anc in tree.ancestors(rel):
            if anc not in c.files:
                c.files.add(anc)
                todo.append(anc)
        for module in tree.imports(rel)[0]:
            if not module:
                continue
            found = tree.resolve(module)
            if not found:
                head = module.split(".")[0]
                if head in module_to_project:
                    top.add(module_to_project[head])
                continue
            for f in found:
                if f not in c.files:
                    c.files.add(f)
                    todo.append(f)
    todo_p = [norm(p) for p in top]
    while todo_p:
        p = todo_p.pop()
        if p in c.projects or p not in lock:
            continue
        c.projects.add(p)
        todo_p += _requires(lock[p])
    return c


def declared_resources(tree: Tree, service: str) -> list[str]:
    build = tree.read(f"services/{service}/BUILD")
    return [
        f"services/{service}/{m}"
        for m in re.findall(r"resource\([^)]*source=\"([^\"]+)\"", build)
    ]


def service_closures(tree: Tree) -> dict[str, tuple[Closure, Closure]]:
    """{service: (image closure, tests closure)}."""
    lock = lock_projects(tree.read(LOCK))
    out = {}
    for s in SERVICES:
        lib = tree.glob(f"services/{s}/{s}_service/**/*.py")
        image = closure(tree, lib + declared_resources(tree, s), lock)
        tests = closure(
            tree, tree.glob(f"services/{s}/tests/**/*.py"), lock, TEST_EXTRA
        )
        out[s] = (image, tests)
    return out


# -- the truth of one change --------------------------------


@dataclass
class Truth:
    include: set[str]
    test_only: set[str]
    deploy_only: set[str]

    def as_dict(self) -> dict:
        return {k: sorted(v) for k, v in self.__dict__.items()}


def compose_blocks(text: str) -> dict[str, str]:
    """Service name → its block's text in a Compose file."""
    blocks: dict[str, str] = {}
    current = None
    inside = False
    for line in text.splitlines():
        if line.startswith("services:"):
            inside = True
            continue
        if inside and re.match(r"^\S", line):
            inside = False
        if not inside:
            continue
        m = re.match(r"^  ([a-z][a-z0-9-]*):\s*$", line)
        if m:
            current = m.group(1)
            blocks[current] = ""
        elif current:
            blocks[current] += line + "\n"
    return blocks


def truth(
    changed: Iterable[str],
    before: Tree,
    after: Tree,
    base: dict[str, tuple[Closure, Closure]],
) -> Truth:
    changed = set(changed)
    head = service_closures(after)
    include, test_only, deploy_only = set(), set(), set()
    lock_changed: set[str] = set()
    if LOCK in changed and after.exists(LOCK):
        old, new = lock_projects(before.read(LOCK)), lock_projects(after.read(LOCK))
        lock_changed = {p for p in old.keys() | new.keys() if old.get(p) != new.get(p)}
    global_change = any(
        p in GLOBAL or any(p.startswith(d) for d in GLOBAL_DIRS) for p in changed
    )
    build_dirs = {p.rsplit("/", 1)[0] for p in changed if p.endswith("/BUILD")}
    for s in SERVICES:
        image_files = base[s][0].files | head[s][0].files
        image_projects = base[s][0].projects | head[s][0].projects
        test_files = base[s][1].files | head[s][1].files
        test_projects = base[s][1].projects | head[s][1].projects
        declared_here = {f.rsplit("/", 1)[0] for f in image_files}
        if (
            global_change
            or changed & image_files
            or lock_changed & image_projects
            or f"services/{s}/BUILD" in changed
            or any(
                d.startswith("shared/") and any(x == d for x in declared_here)
                for d in build_dirs
            )
        ):
            include.add(s)
        elif changed & test_files or lock_changed & test_projects:
            test_only.add(s)
    if COMPOSE in changed:
        old = compose_blocks(before.read(COMPOSE))
        new = compose_blocks(after.read(COMPOSE))
        for name in old.keys() | new.keys():
            if old.get(name) != new.get(name):
                entry = name.removesuffix("-worker")
                if entry in SERVICES and entry not in include:
                    deploy_only.add(entry)
    return Truth(include, test_only, deploy_only)


if __name__ == "__main__":  # a quick look: the truth of a few changes, no repo edits
    here = Tree(Path(__file__).resolve().parents[1])
    closures = service_closures(here)
    for s, (image, tests) in closures.items():
        print(s, len(image.files), "files", sorted(image.projects), file=sys.stderr)
