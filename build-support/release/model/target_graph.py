"""The Pants target graph as plain data: who owns a file, what depends on what.

Built from `./pants peek ::` (every target with its dependencies, inferred ones
included, and its source files) by adapters/pants_graph.py; everything here is pure.
"""

from __future__ import annotations

import posixpath
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

IMAGE_TYPE = "docker_image"
REQUIREMENT_TYPE = "python_requirement"
LOCKFILE_TYPE = "_lockfile"
# What a `python_requirements(source=...)` generator makes of its requirements file.
REQUIREMENTS_FILE_TYPE = "_generator_sources_helper"


@dataclass(frozen=True)
class Target:
    address: str
    type: str
    sources: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        d: dict = {"address": self.address, "type": self.type}
        for key in ("sources", "dependencies", "requirements"):
            if getattr(self, key):
                d[key] = list(getattr(self, key))
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "Target":
        return cls(
            address=d["address"],
            type=d["type"],
            sources=tuple(d.get("sources") or ()),
            dependencies=tuple(d.get("dependencies") or ()),
            requirements=tuple(d.get("requirements") or ()),
        )


def build_dir(address: str, sources: Iterable[str] = ()) -> str:
    """The directory of the BUILD file that declares `address`.

    `dir:name` and `dir:name#gen` are declared in `dir`; a generated file target
    `path/to/file.py:../name` (or `path/to/file.py` for the default name) in the
    file's directory joined with the relative part of its name.
    """
    spec, _, name = address.removeprefix("//").partition(":")
    name = name.partition("#")[0]
    spec = spec.partition("#")[0]
    if spec in set(sources):  # a file address
        directory = posixpath.dirname(spec)
        if "/" in name:
            directory = posixpath.normpath(
                posixpath.join(directory, posixpath.dirname(name))
            )
        return "" if directory == "." else directory
    return spec


@dataclass
class Graph:
    targets: dict[str, Target]
    _owners: dict[str, set[str]] = field(default_factory=dict, repr=False)
    _dependents: dict[str, set[str]] | None = field(default=None, repr=False)
    _build_dirs: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for t in self.targets.values():
            for s in t.sources:
                self._owners.setdefault(s, set()).add(t.address)
            self._build_dirs[t.address] = build_dir(t.address, t.sources)

    # construction ------------------------------------------------------------------
    @classmethod
    def from_peek(cls, data: Iterable[Mapping]) -> "Graph":
        """From the JSON list `./pants peek` prints (any extra fields are ignored)."""
        targets = {}
        for d in data:
            targets[d["address"]] = Target(
                address=d["address"],
                type=d["target_type"],
                sources=tuple(d.get("sources") or ()),
                dependencies=tuple(d.get("dependencies") or ()),
                requirements=tuple(d.get("requirements") or ()),
            )
        return cls(targets)

    def to_json(self) -> list[dict]:
        return [t.to_dict() for t in self.targets.values()]

    @classmethod
    def from_json(cls, data: Iterable[Mapping]) -> "Graph":
        return cls({d["address"]: Target.from_dict(d) for d in data})

    # queries -----------------------------------------------------------------------
    def owners(self, path: str) -> set[str]:
        return set(self._owners.get(path, ()))

    def build_dir(self, address: str) -> str:
        return self._build_dirs.get(address, "")

    def declared_in(self, directory: str) -> set[str]:
        """Targets declared by the BUILD file(s) of `directory`."""
        return {a for a, d in self._build_dirs.items() if d == directory}

    def of_type(self, type_: str) -> list[Target]:
        return [t for t in self.targets.values() if t.type == type_]

    def dependents(self) -> dict[str, set[str]]:
        if self._dependents is None:
            rev: dict[str, set[str]] = {}
            for t in self.targets.values():
                for d in t.dependencies:
                    rev.setdefault(d, set()).add(t.address)
            self._dependents = rev
        return self._dependents

    def closure(self, roots: Iterable[str]) -> set[str]:
        """The roots and everything they depend on, transitively."""
        seen: set[str] = set()
        todo = [r for r in roots if r in self.targets]
        while todo:
            a = todo.pop()
            if a in seen:
                continue
            seen.add(a)
            todo.extend(d for d in self.targets[a].dependencies if d not in seen)
        return seen

    def dependents_closure(self, roots: Iterable[str]) -> set[str]:
        """The roots and everything that depends on them, transitively."""
        return set(self.reverse_reach(roots))

    def reverse_reach(self, sources: Iterable[str]) -> dict[str, str | None]:
        """Multi-source BFS over dependents: {reached: the node it was reached from}.

        Following the parents from any reached node leads back, on a shortest path,
        to one of the sources (whose parent is None).
        """
        rev = self.dependents()
        parent: dict[str, str | None] = {}
        queue: deque[str] = deque()
        for s in sorted(set(sources)):
            if s in self.targets and s not in parent:
                parent[s] = None
                queue.append(s)
        while queue:
            a = queue.popleft()
            for d in sorted(rev.get(a, ())):
                if d not in parent:
                    parent[d] = a
                    queue.append(d)
        return parent


def path_to(parent: Mapping[str, str | None], node: str) -> list[str]:
    """The chain source → ... → node recorded by Graph.reverse_reach."""
    chain = [node]
    while parent.get(chain[-1]) is not None:
        chain.append(parent[chain[-1]])  # type: ignore[arg-type]
    return chain[::-1]


def display(graph: Graph, address: str) -> str:
    """A file target reads as its file; every other target as its address."""
    t = graph.targets.get(address)
    if t and len(t.sources) == 1:
        spec = address.removeprefix("//").partition(":")[0]
        if spec == t.sources[0]:
            return spec
    return address


# -- services' targets and BUILD files ------------------------------------------------

SERVICES_DIR = "services"


def is_build_file(path: str) -> bool:
    name = posixpath.basename(path)
    return name == "BUILD" or name.startswith("BUILD.")


def image_target(service: str) -> str:
    return f"{SERVICES_DIR}/{service}:image"


def service_dir_of(path: str) -> str:
    """`services/<x>/...` → x (empty when the path is not inside a service folder)."""
    parts = path.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == SERVICES_DIR else ""
