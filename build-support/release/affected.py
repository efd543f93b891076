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
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from release import deploy_config_diff, lockfile_diff
from release.target_graph import (
    IMAGE_TYPE,
    LOCKFILE_TYPE,
    REQUIREMENT_TYPE,
    REQUIREMENTS_FILE_TYPE,
    Graph,
    display,
    path_to,
)

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
    ("build-support/release/images.py", "the tooling that builds and tags the images"),
    ("build-support/release/base_image.py", "the tooling that provides the base image"),
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
SERVICES_DIR = "services"


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


def is_build_file(path: str) -> bool:
    name = posixpath.basename(path)
    return name == "BUILD" or name.startswith("BUILD.")


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


def image_target(service: str) -> str:
    return f"{SERVICES_DIR}/{service}:image"


def service_dir_of(path: str) -> str:
    """`services/<x>/...` → x (empty when the path is not inside a service folder)."""
    parts = path.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == SERVICES_DIR else ""


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


def _lockfiles(graph: Graph | None) -> dict[str, str]:
    """lockfile path → address of the `_lockfile` target owning it."""
    if graph is None:
        return {}
    return {s: t.address for t in graph.of_type(LOCKFILE_TYPE) for s in t.sources}


def _requirement_files(graph: Graph | None) -> dict[str, str]:
    """requirements file path → address of the target owning it (requirement targets
    depend on it)."""
    if graph is None:
        return {}
    out = {}
    for r in graph.of_type(REQUIREMENT_TYPE):
        for dep in r.dependencies:
            t = graph.targets.get(dep)
            if t and t.type == REQUIREMENTS_FILE_TYPE:
                out.update({s: t.address for s in t.sources})
    return out


def content_paths(inputs: Inputs) -> set[str]:
    """Changed paths whose contents (at the merge-base and at head) compute() needs."""
    special = set()
    for g in (inputs.head, inputs.base):
        special |= set(_lockfiles(g)) | set(_requirement_files(g))
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


class _Collector:
    """Accumulates, for every service or image reached, its shortest chain."""

    def __init__(self) -> None:
        self.chains: dict[str, tuple[str, ...]] = {}

    def offer(self, key: str, chain: Iterable[str]) -> None:
        chain = tuple(chain)
        old = self.chains.get(key)
        if old is None or (len(chain), chain) < (len(old), old):
            self.chains[key] = chain


@dataclass
class _Sources:
    """Graph nodes a change starts from, with the words that lead into them."""

    origin: dict[str, tuple[str, ...]] = field(default_factory=dict)
    paths: dict[str, set[str]] = field(default_factory=dict)  # changed path → nodes

    def add(self, path: str, node: str, lead: tuple[str, ...]) -> None:
        old = self.origin.get(node)
        if old is None or (len(lead), lead) < (len(old), old):
            self.origin[node] = lead
        self.paths.setdefault(path, set()).add(node)


def compute(inputs: Inputs) -> Result:
    services = tuple(sorted(inputs.services))
    service_images = {image_target(s): s for s in services}
    images = _Collector()
    tests = _Collector()
    deploy: dict[str, list[str]] = {}
    no_effect: dict[str, str] = {}
    notes: list[str] = []
    everything: list[tuple[str, str]] = []  # (path, why) of global inputs
    head_src, base_src = _Sources(), _Sources()
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

    head_locks, base_locks = _lockfiles(inputs.head), _lockfiles(inputs.base)
    head_reqs, base_reqs = _requirement_files(inputs.head), _requirement_files(
        inputs.base
    )
    for c in undecided:
        if c.path in head_locks or c.path in base_locks:
            _lockfile_change(c, inputs, head_src, base_src, no_effect)
        elif c.path in head_reqs or c.path in base_reqs:
            _requirements_change(c, inputs, head_src, base_src, no_effect)
        elif is_build_file(c.path):
            _build_file_change(c, inputs, head_src, base_src)
        else:
            _file_change(c, inputs, head_src, base_src)

    for graph, src, at_base in (
        (inputs.head, head_src, False),
        (inputs.base, base_src, True),
    ):
        if graph is not None and src.origin:
            _walk(graph, src, at_base, services, images, tests, no_effect, notes)

    # Files Pants does not own (and that no earlier rule decided).
    for c in undecided:
        owned = c.path in head_src.paths or c.path in base_src.paths
        if not owned and c.path not in no_effect:
            _unowned(c, services, images, tests, no_effect)

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


# -- the rules that need the graph -----------------------------------------------------


def _graph_for(c: Change, inputs: Inputs) -> tuple[Graph | None, bool]:
    return (inputs.base, True) if c.deleted else (inputs.head, False)


def _src_for(at_base: bool, head_src: _Sources, base_src: _Sources) -> _Sources:
    return base_src if at_base else head_src


def _lead(c: Change) -> tuple[str, ...]:
    if c.deleted and c.renamed:
        return (f"{c.path} (renamed to {c.renamed})",)
    if c.deleted:
        return (f"{c.path} (deleted)",)
    return (c.path,)


def _file_change(
    c: Change, inputs: Inputs, head_src: _Sources, base_src: _Sources
) -> None:
    graph, at_base = _graph_for(c, inputs)
    if graph is None:
        return
    src = _src_for(at_base, head_src, base_src)
    for owner in graph.owners(c.path):
        src.add(c.path, owner, _lead(c))


def _build_file_change(
    c: Change, inputs: Inputs, head_src: _Sources, base_src: _Sources
) -> None:
    directory = posixpath.dirname(c.path)
    for graph, src in ((inputs.head, head_src), (inputs.base, base_src)):
        if graph is None or (graph is inputs.head and c.deleted):
            continue
        for t in sorted(graph.declared_in(directory)):
            src.add(c.path, t, (c.path,))


def _requirement_targets(graph: Graph, file_address: str) -> list:
    return [
        r for r in graph.of_type(REQUIREMENT_TYPE) if file_address in r.dependencies
    ]


def _requirements_change(
    c: Change, inputs: Inputs, head_src: _Sources, base_src: _Sources, no_effect: dict
) -> None:
    base_text, head_text = inputs.texts.get(c.path, (None, None))
    changed = lockfile_diff.changed_requirements(base_text, head_text)
    added_any = False
    for graph, src, owners in (
        (inputs.head, head_src, _requirement_files(inputs.head)),
        (inputs.base, base_src, _requirement_files(inputs.base)),
    ):
        if graph is None or c.path not in owners:
            continue
        for r in _requirement_targets(graph, owners[c.path]):
            names = {_req_name(s) for s in r.requirements}
            hit = names if changed is None else names & changed
            if hit:
                word = (
                    "changed"
                    if changed is not None
                    else "cannot be compared line by line"
                )
                src.add(
                    c.path, r.address, (f"{c.path} ({', '.join(sorted(hit))} {word})",)
                )
                added_any = True
    if not added_any:
        no_effect[c.path] = (
            f"changed requirements ({', '.join(sorted(changed))}) are used by no target"
            if changed
            else "no requirement line changed"
        )


def _req_name(spec: str) -> str:
    try:
        return lockfile_diff.parse_requirement(spec).name
    except lockfile_diff.LockParseError:
        return spec


def _lockfile_change(
    c: Change, inputs: Inputs, head_src: _Sources, base_src: _Sources, no_effect: dict
) -> None:
    base_text, head_text = inputs.texts.get(c.path, (None, None))
    d = lockfile_diff.diff_texts(base_text, head_text)
    if d.empty:
        no_effect[c.path] = "no locked version, hash or marker changed"
        return
    locks = []
    for text in (base_text, head_text):
        try:
            locks.append(lockfile_diff.parse(text)) if text is not None else None
        except lockfile_diff.LockParseError:
            pass
    for graph, src, owners in (
        (inputs.head, head_src, _lockfiles(inputs.head)),
        (inputs.base, base_src, _lockfiles(inputs.base)),
    ):
        if graph is None or c.path not in owners:
            continue
        for r in _requirement_targets(graph, owners[c.path]):
            if d.resolve_wide:
                src.add(
                    c.path, r.address, (f"{c.path} (resolve-wide: {d.resolve_wide})",)
                )
                continue
            roots = []
            for spec in r.requirements:
                try:
                    roots.append(lockfile_diff.parse_requirement(spec))
                except lockfile_diff.LockParseError:
                    pass
            pulled = lockfile_diff.closure(roots, locks)
            hits = sorted(
                set(pulled) & set(d.changed), key=lambda n: (len(pulled[n]), n)
            )
            if hits:
                first = hits[0]
                via = " → ".join(pulled[first])
                more = f" and {len(hits) - 1} more" if len(hits) > 1 else ""
                src.add(
                    c.path,
                    r.address,
                    (f"{c.path} ({d.changed[first]}{more}; via {via})",),
                )
    if c.path not in head_src.paths and c.path not in base_src.paths:
        shown = ", ".join(list(d.changed.values())[:4])
        no_effect[c.path] = f"locked changes ({shown}) are required by no target"


def _service_of_image(address: str) -> str:
    """`services/<x>:image` → x."""
    spec, _, name = address.partition(":")
    return service_dir_of(spec + "/") if name == "image" else ""


def _walk(
    graph: Graph,
    src: _Sources,
    at_base: bool,
    services: tuple[str, ...],
    images: _Collector,
    tests: _Collector,
    no_effect: dict[str, str],
    notes: list[str],
) -> None:
    """Follows dependents from the changed nodes to images and service targets."""
    parent = graph.reverse_reach(src.origin)
    suffix = ("(graph at the merge-base)",) if at_base else ()

    def chain_to(node: str) -> tuple[str, ...]:
        chain = path_to(parent, node)
        lead = src.origin[chain[0]]
        shown = [display(graph, a) for a in chain]
        if shown[0] == lead[0].split(" (")[0]:
            shown = shown[1:]
        return lead + tuple(shown) + suffix

    for node in parent:
        if graph.targets[node].type == IMAGE_TYPE:
            svc = _service_of_image(node)
            if svc and svc not in services:
                notes.append(
                    f"{SERVICES_DIR}/{svc} no longer exists at head: not listed"
                )
            else:
                images.offer(svc or node, chain_to(node))
        else:
            svc = service_dir_of(graph.build_dir(node) + "/")
            if svc in services:
                tests.offer(svc, chain_to(node))

    # Say why each changed path that reached no image affects nothing (or only tests).
    in_images = graph.closure(t.address for t in graph.of_type(IMAGE_TYPE))
    for path, nodes in sorted(src.paths.items()):
        if nodes & in_images or path in no_effect:
            continue
        reached = graph.dependents_closure(nodes)
        svcs = sorted(
            {service_dir_of(graph.build_dir(n) + "/") for n in reached} & set(services)
        )
        if svcs:
            no_effect[path] = (
                f"only tests or other non-image targets of {', '.join(svcs)} "
                "depend on it (test_only)"
            )
        else:
            names = sorted({display(graph, n) for n in nodes} - {path}) or [path]
            shown = ", ".join(names[:3]) + (
                f" and {len(names) - 3} more" if len(names) > 3 else ""
            )
            if is_build_file(path):
                what = f"declares {shown}"
            elif graph.targets[min(nodes)].type == REQUIREMENT_TYPE:
                what = f"changes {shown}"
            else:
                what = f"owned by {shown}"
            no_effect[path] = f"{what}, which no service depends on"


def _unowned(
    c: Change,
    services: tuple[str, ...],
    images: _Collector,
    tests: _Collector,
    no_effect: dict[str, str],
) -> None:
    svc = service_dir_of(c.path)
    if svc in services and c.path.startswith(f"{SERVICES_DIR}/{svc}/tests/"):
        tests.offer(svc, (c.path, f"tests of {svc} (not owned by any Pants target)"))
        no_effect[c.path] = f"tests of {svc} only, not part of its image (test_only)"
    elif svc in services:
        images.offer(
            svc,
            (
                c.path,
                f"not owned by any Pants target; inside {SERVICES_DIR}/{svc}/, "
                "rebuilt to be safe",
                image_target(svc),
            ),
        )
    else:
        no_effect[c.path] = "not owned by any Pants target, so no image can contain it"


# -- rendering (pure: a Result in, text or data out) ----------------------------------

ARROW = " → "


def to_matrix(result: Result, explain: bool = False) -> dict:
    """The GitHub Actions matrix (`include`), plus the lists CI acts on besides it."""
    data: dict = {
        "include": [
            {"service": s, "image_target": image_target(s)} for s in result.include
        ],
        "deploy_only": list(result.deploy_only),
        "test_only": list(result.test_only),
        "other_images": list(result.other_images),
    }
    if explain:
        data["explain"] = {
            "chains": {k: list(v) for k, v in sorted(result.chains.items())},
            "deploy_only": dict(result.deploy_reasons),
            "test_only": {k: list(v) for k, v in result.test_chains.items()},
            "no_effect": dict(result.no_effect),
            "notes": list(result.notes),
        }
    return data


def explain_lines(result: Result) -> list[str]:
    def section(title: str, rows: list[str]) -> list[str]:
        return [f"{title} ({len(rows)}):", *[f"  {r}" for r in rows]] if rows else []

    lines = section(
        "affected services",
        [f"{s}: {ARROW.join(result.chains[s])}" for s in result.include],
    ) or ["affected services: none"]
    lines += section(
        "other images",
        [f"{i}: {ARROW.join(result.chains[i])}" for i in result.other_images],
    )
    lines += section(
        "deploy only (config changed, image unchanged)",
        [f"{s}: {result.deploy_reasons[s]}" for s in result.deploy_only],
    )
    lines += section(
        "test only (tests changed, image unchanged)",
        [f"{s}: {ARROW.join(result.test_chains[s])}" for s in result.test_only],
    )
    lines += section(
        "changed files that affect no image",
        [f"{p}: {why}" for p, why in result.no_effect.items()],
    )
    lines += section("notes", list(result.notes))
    return lines
