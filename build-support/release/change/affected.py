"""Which services a change affects: changed paths and graph data in, result out (pure).

Every changed path is decided by the first rule that applies to it:

7. a global build input (GLOBAL_BUILD_INPUTS below) → every service and image;
8. documentation and CI-only files (NOT_BUILD_INPUTS, is_doc) → nothing;
6. deployment config (gitops/ Compose files, gitops/versions/*.json) → `deploy_only`
   for the services it touches, no rebuild;
3. a lockfile → the services whose requirements' closure (through requires_dists)
   holds a project whose locked version, hashes or markers changed; a requirements
   file → the services using a requirement whose line changed;
4. a BUILD file → the services whose image depends on a target it declares;
1, 2, 4. a file Pants owns → the services whose image target transitively depends on
   an owner (dependency inference: own sources, shared code, Dockerfile, resources);
   deleted or renamed-away files (5) are looked up in the merge-base's graph;
   a file no target owns: under services/<x>/tests/ → tests of x; elsewhere under
   services/<x>/ → x, to be safe; anywhere else → nothing (no image can contain a
   file no target owns).

Tests are never part of an image: a change that reaches a service's other targets
(tests, test helpers) but not its image lists the service under `test_only`, so CI can
still run its checks without rebuilding or publishing it.

The rules that need the graph (1-5 and unowned files) are in change/graph_rules.py; the
matrix and the explanation are rendered by cli/affected_render.py.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from release.change import deploy_config as deploy_config_diff
from release.change.graph_rules import (
    Collector,
    Sources,
    build_file_change,
    file_change,
    lockfile_change,
    lockfiles,
    requirement_files,
    requirements_change,
    unowned,
    walk,
)
from release.model.target_graph import IMAGE_TYPE, Graph, image_target, is_build_file

# Rule 7: inputs of every image that the dependency graph does not show. A change to
# any of these rebuilds every service (and every other image). Patterns are anchored
# at the repository root; `dir/**` means everything below dir.
GLOBAL_BUILD_INPUTS: tuple[tuple[str, str], ...] = (
    ("pants.toml", "Pants configuration (backends, source roots, resolves, tools)"),
    ("pants.*.toml", "Pants configuration overlay"),
    (".pants.rc", "Pants configuration overlay"),
    ("pants", "the Pants bootstrap script"),
    ("BUILD", "the root BUILD file"),
    (".gitignore", "Pants ignores what git ignores"),
    (
        "build-support/macros.py",
        "the BUILD macro that declares every service's targets",
    ),
    ("build-support/base-image/**", "the base image every image is built FROM"),
    (
        "build-support/release/images/build.py",
        "the tooling that builds and tags the images",
    ),
    (
        "build-support/release/images/base.py",
        "the tooling that provides the base image",
    ),
    ("build-support/flake8.ini", "lint configuration of every target"),
    ("3rdparty/python/BUILD", "declares the third-party requirements of every resolve"),
)

# Rule 8: files that are never a build input, and documentation (is_doc: Markdown,
# reStructuredText, docs/, LICENSE, CHANGELOG), wherever it is: no image here ships
# documentation, so these are decided without asking Pants.
NOT_BUILD_INPUTS: tuple[tuple[str, str], ...] = (
    (".github/**", "CI configuration"),
    (".ci/**", "CI entry script"),
)
DOC_SUFFIXES = (".md", ".rst")
DOC_DIRS = ("docs/",)


def matches(path: str, pattern: str) -> bool:
    """Anchored glob: `*` stays within a path segment; a trailing `/**` is a subtree."""
    if pattern.endswith("/**"):
        return path.startswith(pattern[:-2])
    return fnmatch.fnmatchcase(path, pattern) and path.count("/") == pattern.count("/")


def first_match(path: str, table: Iterable[tuple[str, str]]) -> str | None:
    return next((why for pattern, why in table if matches(path, pattern)), None)


def is_doc(path: str) -> bool:
    name = posixpath.basename(path)
    return (
        path.endswith(DOC_SUFFIXES)
        or path.startswith(DOC_DIRS)
        or name.upper().startswith(("LICENSE", "CHANGELOG"))
    )


# -- input --------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One changed path between the merge-base and head.

    status: "added", "modified" or "deleted"; a rename is a deleted old path plus an
    added new one, each carrying the other's name in `renamed`.
    """

    path: str
    status: str
    renamed: str = ""

    @property
    def deleted(self) -> bool:
        return self.status == "deleted"


@dataclass(frozen=True)
class Inputs:
    changes: tuple[Change, ...]
    services: tuple[str, ...]  # the services at head
    head: Graph | None = None
    base: Graph | None = None  # the merge-base's graph, for deleted paths
    # path → (text at the merge-base, text at head), for the paths content_paths() names
    texts: Mapping[str, tuple[str | None, str | None]] = field(default_factory=dict)


def _early_reason(change: Change) -> tuple[str, str] | None:
    """Rules decided by the path alone: ("global"|"none"|"deploy", why)."""
    why = first_match(change.path, GLOBAL_BUILD_INPUTS)
    if why:
        return "global", why
    why = first_match(change.path, NOT_BUILD_INPUTS)
    if why:
        return "none", why
    if is_doc(change.path):
        return "none", "documentation"
    if deploy_config_diff.is_deploy_config(change.path):
        return "deploy", "deployment configuration"
    return None


def needs_graph(changes: Iterable[Change]) -> bool:
    """Whether Pants must be asked at all (not for CI-only or deploy-only changes)."""
    return any(
        (_early_reason(c) or ("",))[0] not in ("none", "deploy") for c in changes
    )


def needs_base_graph(changes: Iterable[Change]) -> bool:
    """Deleted paths are looked up in the merge-base's graph (Pants cannot see them)."""
    return any(c.deleted and _early_reason(c) is None for c in changes)


def deleted_modules_imported(changes: Iterable[Change], modules: Iterable[str]) -> bool:
    """Whether every one of these imports (as Python names: `core.geo`, or a name in
    it, `core.geo.Point`) is of a module the change deleted. Source roots are unknown
    here, so a module matches a deleted `<root>/core/geo.py` or `.../geo/__init__.py`
    under any root."""
    deleted = {
        "/" + c.path.removesuffix(".py").removesuffix("/__init__")
        for c in changes
        if c.deleted and c.path.endswith(".py")
    }

    def is_deleted(module: str) -> bool:
        parts = module.split(".")
        prefixes = ("/" + "/".join(parts[:n]) for n in range(1, len(parts) + 1))
        return any(d.endswith(p) for p in prefixes for d in deleted)

    modules = list(modules)
    return bool(modules) and all(is_deleted(m) for m in modules)


def content_paths(inputs: Inputs) -> set[str]:
    """Changed paths whose contents (at the merge-base and at head) compute() needs."""
    special = set()
    for g in (inputs.head, inputs.base):
        special |= set(lockfiles(g)) | set(requirement_files(g))
    out = set()
    for c in inputs.changes:
        early = _early_reason(c)
        if (early and early[0] == "deploy") or (early is None and c.path in special):
            out.add(c.path)
    return out


# -- output -------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    include: tuple[str, ...]  # services whose image changed
    deploy_only: tuple[str, ...]  # deployment config changed, image did not
    test_only: tuple[str, ...]  # tests (or other non-image targets) changed only
    other_images: tuple[str, ...]  # non-service image targets that changed (proxy)
    # service (or other image) → one shortest chain: changed file → ... → image
    chains: Mapping[str, tuple[str, ...]]
    test_chains: Mapping[str, tuple[str, ...]]
    deploy_reasons: Mapping[str, str]
    no_effect: Mapping[str, str]  # changed path that affects no image → why
    notes: tuple[str, ...] = ()


def compute(inputs: Inputs) -> Result:
    services = tuple(sorted(inputs.services))
    service_images = {image_target(s): s for s in services}
    images = Collector()
    tests = Collector()
    deploy: dict[str, list[str]] = {}
    no_effect: dict[str, str] = {}
    notes: list[str] = []
    everything: list[tuple[str, str]] = []  # (path, why) of global inputs
    head_src, base_src = Sources(), Sources()
    undecided: list[Change] = []

    for c in sorted(inputs.changes, key=lambda c: (c.path, c.status)):
        early = _early_reason(c)
        if early is None:
            undecided.append(c)
        elif early[0] == "global":
            everything.append((c.path, early[1]))
        elif early[0] == "none":
            no_effect[c.path] = early[1]
        else:
            base_text, head_text = inputs.texts.get(c.path, (None, None))
            dc = deploy_config_diff.change(c.path, base_text, head_text, services)
            label = f"{c.path}: deployment config" + (
                f" ({dc.note})" if dc.note else ""
            )
            for s in dc.services:
                deploy.setdefault(s, []).append(label)
            touched = sorted(dc.services) + [
                f"{o} (not a service)" for o in sorted(dc.others)
            ]
            no_effect[c.path] = (
                f"deployment configuration of {', '.join(touched)}: deploy only"
                if touched
                else "deployment configuration; no service entry changed"
            )

    head_locks, base_locks = lockfiles(inputs.head), lockfiles(inputs.base)
    head_reqs, base_reqs = requirement_files(inputs.head), requirement_files(
        inputs.base
    )
    for c in undecided:
        if c.path in head_locks or c.path in base_locks:
            lockfile_change(c, inputs, head_src, base_src, no_effect)
        elif c.path in head_reqs or c.path in base_reqs:
            requirements_change(c, inputs, head_src, base_src, no_effect)
        elif is_build_file(c.path):
            build_file_change(c, inputs, head_src, base_src)
        else:
            file_change(c, inputs, head_src, base_src)

    for graph, src, at_base in (
        (inputs.head, head_src, False),
        (inputs.base, base_src, True),
    ):
        if graph is not None and src.origin:
            walk(graph, src, at_base, services, images, tests, no_effect, notes)

    # Files Pants does not own (and that no earlier rule decided).
    for c in undecided:
        owned = c.path in head_src.paths or c.path in base_src.paths
        if not owned and c.path not in no_effect:
            unowned(c, services, images, tests, no_effect)

    if everything:
        path, why = everything[0]
        lead = (path, f"global build input: {why}")
        for s in services:
            images.offer(s, lead + (image_target(s),))
        if inputs.head:
            for t in inputs.head.of_type(IMAGE_TYPE):
                if t.address not in service_images:
                    images.offer(t.address, lead + (t.address,))
        for p, w in everything:
            notes.append(
                f"{p} is a global build input ({w}): every service is affected"
            )

    include = tuple(s for s in services if s in images.chains)
    other_images = tuple(sorted(k for k in images.chains if k not in services))
    test_only = tuple(s for s in services if s in tests.chains and s not in include)
    deploy_only = tuple(s for s in services if s in deploy and s not in include)
    return Result(
        include=include,
        deploy_only=deploy_only,
        test_only=test_only,
        other_images=other_images,
        chains={k: v for k, v in images.chains.items()},
        test_chains={s: tests.chains[s] for s in test_only},
        deploy_reasons={s: "; ".join(deploy[s]) for s in deploy_only},
        no_effect=dict(sorted(no_effect.items())),
        notes=tuple(notes),
    )
