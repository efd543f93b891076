"""The rules of change/affected.py that need the target graph: where a changed file,
BUILD file, requirements file or lockfile enters the graph (Sources), the walk from
there to the images and service targets that depend on it (Collector), and what is
said of a path that reaches none. Pure: graphs and texts in, accumulators filled."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from release.change import lockfile as lockfile_diff
from release.model.target_graph import (
    IMAGE_TYPE,
    LOCKFILE_TYPE,
    REQUIREMENT_TYPE,
    REQUIREMENTS_FILE_TYPE,
    SERVICES_DIR,
    Graph,
    display,
    image_target,
    is_build_file,
    path_to,
    service_dir_of,
)

if TYPE_CHECKING:
    from release.change.affected import Change, Inputs


class Collector:
    """Accumulates, for every service or image reached, its shortest chain."""

    def __init__(self) -> None:
        self.chains: dict[str, tuple[str, ...]] = {}

    def offer(self, key: str, chain: Iterable[str]) -> None:
        chain = tuple(chain)
        old = self.chains.get(key)
        if old is None or (len(chain), chain) < (len(old), old):
            self.chains[key] = chain


@dataclass
class Sources:
    """Graph nodes a change starts from, with the words that lead into them."""

    origin: dict[str, tuple[str, ...]] = field(default_factory=dict)
    paths: dict[str, set[str]] = field(default_factory=dict)  # changed path → nodes

    def add(self, path: str, node: str, lead: tuple[str, ...]) -> None:
        old = self.origin.get(node)
        if old is None or (len(lead), lead) < (len(old), old):
            self.origin[node] = lead
        self.paths.setdefault(path, set()).add(node)


def lockfiles(graph: Graph | None) -> dict[str, str]:
    """lockfile path → address of the `_lockfile` target owning it."""
    if graph is None:
        return {}
    return {s: t.address for t in graph.of_type(LOCKFILE_TYPE) for s in t.sources}


def requirement_files(graph: Graph | None) -> dict[str, str]:
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


def _graph_for(c: Change, inputs: Inputs) -> tuple[Graph | None, bool]:
    return (inputs.base, True) if c.deleted else (inputs.head, False)


def _src_for(at_base: bool, head_src: Sources, base_src: Sources) -> Sources:
    return base_src if at_base else head_src


def _lead(c: Change) -> tuple[str, ...]:
    if c.deleted and c.renamed:
        return (f"{c.path} (renamed to {c.renamed})",)
    if c.deleted:
        return (f"{c.path} (deleted)",)
    return (c.path,)


def file_change(
    c: Change, inputs: Inputs, head_src: Sources, base_src: Sources
) -> None:
    graph, at_base = _graph_for(c, inputs)
    if graph is None:
        return
    src = _src_for(at_base, head_src, base_src)
    for owner in graph.owners(c.path):
        src.add(c.path, owner, _lead(c))


def build_file_change(
    c: Change, inputs: Inputs, head_src: Sources, base_src: Sources
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


def requirements_change(
    c: Change, inputs: Inputs, head_src: Sources, base_src: Sources, no_effect: dict
) -> None:
    base_text, head_text = inputs.texts.get(c.path, (None, None))
    changed = lockfile_diff.changed_requirements(base_text, head_text)
    added_any = False
    for graph, src, owners in (
        (inputs.head, head_src, requirement_files(inputs.head)),
        (inputs.base, base_src, requirement_files(inputs.base)),
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


def lockfile_change(
    c: Change, inputs: Inputs, head_src: Sources, base_src: Sources, no_effect: dict
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
        (inputs.head, head_src, lockfiles(inputs.head)),
        (inputs.base, base_src, lockfiles(inputs.base)),
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


def walk(
    graph: Graph,
    src: Sources,
    at_base: bool,
    services: tuple[str, ...],
    images: Collector,
    tests: Collector,
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


def unowned(
    c: Change,
    services: tuple[str, ...],
    images: Collector,
    tests: Collector,
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
