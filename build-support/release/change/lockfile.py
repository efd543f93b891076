"""Pants lockfiles: what changed between two versions, and what a requirement pulls in.

A Pants (PEX) lockfile is a `//` comment header (with Pants' metadata as JSON) followed
by JSON: `locked_resolves[].locked_requirements[]`, one entry per project with its
version, artifact hashes, `requires_dists` (dependency specs with their markers) and
`requires_python`. Everything here is pure: texts in, data out.

A project *changed* when its version, its artifact hashes, its dependency specs or
markers, or its `requires_python` differ, or when it was added or removed. Settings
that apply to the whole resolve (pip or resolver version, interpreter constraints,
target systems, ...) changing means every project of the resolve may differ.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

METADATA_BEGIN = "--- BEGIN PANTS LOCKFILE METADATA"
METADATA_END = "--- END PANTS LOCKFILE METADATA"
# Inputs of the lock, not properties of what is installed: a new requirement shows up
# here and as an added project; the project is what we compare.
IGNORED_METADATA = frozenset({"generated_with_requirements"})
IGNORED_SETTINGS = frozenset({"locked_resolves", "requirements"})

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[([^\]]*)\])?")
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


class LockParseError(ValueError):
    pass


def canonical_name(name: str) -> str:
    """PEP 503 normalisation: `PyJWT`, `pyjwt` and `py_jwt` are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Requirement:
    name: str
    extras: frozenset[str] = frozenset()
    marker: str = ""


def parse_requirement(spec: str) -> Requirement:
    """`uvicorn[standard]>=0.30; python_version < "3.12"` → name, extras and marker."""
    head, _, marker = spec.partition(";")
    m = _NAME.match(head)
    if not m:
        raise LockParseError(f"not a requirement: {spec!r}")
    extras = frozenset(
        canonical_name(e.strip()) for e in (m.group(3) or "").split(",") if e.strip()
    )
    return Requirement(canonical_name(m.group(1)), extras, marker.strip())


def needed_for(req: Requirement, extras: frozenset[str]) -> bool:
    """Whether a dependency spec applies when its parent is installed with `extras`.

    Only `extra == "..."` markers are decided; every other marker (python_version,
    platform, ...) is assumed true, which can only over-approximate.
    """
    named = {canonical_name(e) for e in _EXTRA_MARKER.findall(req.marker)}
    if not named:
        return True
    if " or " in req.marker and not all(
        "extra" in part for part in req.marker.split(" or ")
    ):
        return True  # an extra or'ed with another condition: keep it
    return bool(named & extras)


@dataclass(frozen=True)
class LockedProject:
    name: str
    version: str
    hashes: frozenset[str]
    requires_dists: tuple[str, ...]
    requires_python: str

    def describe_change(self, new: "LockedProject") -> str:
        if self.version != new.version:
            return f"{self.name} {self.version} → {new.version}"
        what = []
        if self.hashes != new.hashes:
            what.append("artifact hashes")
        if self.requires_dists != new.requires_dists:
            what.append("dependencies or markers")
        if self.requires_python != new.requires_python:
            what.append("requires_python")
        return f"{self.name} {self.version} ({', '.join(what)} changed)"


@dataclass(frozen=True)
class Lockfile:
    metadata: Mapping
    settings: Mapping
    projects: Mapping[str, tuple[LockedProject, ...]]

    def dependencies(self, name: str, extras: frozenset[str]) -> list[Requirement]:
        out = []
        for p in self.projects.get(name, ()):
            for spec in p.requires_dists:
                try:
                    dep = parse_requirement(spec)
                except LockParseError:
                    continue
                if needed_for(dep, extras):
                    out.append(dep)
        return out


def _split(text: str) -> tuple[dict, str]:
    header, body, in_meta = [], [], False
    for line in text.splitlines():
        if line.startswith("//"):
            content = line[2:].strip()
            if content.startswith(METADATA_BEGIN):
                in_meta = True
            elif content.startswith(METADATA_END):
                in_meta = False
            elif in_meta:
                header.append(line[2:])
        else:
            body.append(line)
    try:
        metadata = json.loads("\n".join(header)) if header else {}
    except json.JSONDecodeError as exc:
        raise LockParseError(f"invalid metadata header ({exc})") from exc
    return metadata, "\n".join(body)


def parse(text: str) -> Lockfile:
    metadata, body = _split(text)
    try:
        data = json.loads(body)
        projects: dict[str, list[LockedProject]] = {}
        for resolve in data["locked_resolves"]:
            for r in resolve["locked_requirements"]:
                p = LockedProject(
                    name=canonical_name(r["project_name"]),
                    version=str(r["version"]),
                    hashes=frozenset(
                        f"{a.get('algorithm', '')}:{a.get('hash', '')}"
                        for a in r.get("artifacts", ())
                    ),
                    requires_dists=tuple(sorted(r.get("requires_dists") or ())),
                    requires_python=str(r.get("requires_python") or ""),
                )
                projects.setdefault(p.name, []).append(p)
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise LockParseError(f"not a Pants lockfile ({exc})") from exc
    return Lockfile(
        metadata={k: v for k, v in metadata.items() if k not in IGNORED_METADATA},
        settings={k: v for k, v in data.items() if k not in IGNORED_SETTINGS},
        projects={n: tuple(ps) for n, ps in projects.items()},
    )


@dataclass(frozen=True)
class LockDiff:
    changed: Mapping[str, str]  # project → what changed, e.g. "pyjwt 2.8.0 → 2.9.0"
    resolve_wide: str = ""  # why every project may have changed, if so

    @property
    def empty(self) -> bool:
        return not self.changed and not self.resolve_wide


def diff(base: Lockfile | None, head: Lockfile | None) -> LockDiff:
    """Projects whose locked version, hashes or markers differ (None = no lockfile)."""
    old = base.projects if base else {}
    new = head.projects if head else {}
    changed: dict[str, str] = {}
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        if a is None:
            changed[name] = f"{name} {b[0].version} (added)"  # type: ignore[index]
        elif b is None:
            changed[name] = f"{name} {a[0].version} (removed)"
        elif len(a) == len(b) == 1:
            changed[name] = a[0].describe_change(b[0])
        else:
            changed[name] = f"{name} (locked entries changed)"
    wide = []
    if base and head:
        for label, x, y in (
            ("metadata", base.metadata, head.metadata),
            ("settings", base.settings, head.settings),
        ):
            keys = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))
            if keys:
                wide.append(f"{label} {', '.join(keys)}")
    return LockDiff(changed, "; ".join(wide))


def diff_texts(base_text: str | None, head_text: str | None) -> LockDiff:
    """As diff(), from the lockfile's text at the base and at head; an unreadable
    lockfile counts as a resolve-wide change (we cannot tell what differs)."""
    try:
        base = parse(base_text) if base_text is not None else None
        head = parse(head_text) if head_text is not None else None
    except LockParseError as exc:
        return LockDiff({}, f"lockfile could not be parsed: {exc}")
    return diff(base, head)


def closure(
    roots: Iterable[Requirement], locks: Iterable[Lockfile]
) -> dict[str, tuple[str, ...]]:
    """Every locked project the roots pull in (through requires_dists, honouring
    extras), in any of the given lockfiles: {project: path of projects from a root}."""
    locks = list(locks)
    paths: dict[str, tuple[str, ...]] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    queue: deque[tuple[Requirement, tuple[str, ...]]] = deque(
        (r, (r.name,)) for r in roots
    )
    while queue:
        req, path = queue.popleft()
        key = (req.name, req.extras)
        if key in seen:
            continue
        seen.add(key)
        paths.setdefault(req.name, path)
        for lock in locks:
            for dep in lock.dependencies(req.name, req.extras):
                queue.append((dep, path + (dep.name,)))
    return paths


def parse_requirements_txt(text: str | None) -> dict[str, str] | None:
    """requirements.txt → {project: normalised line}; None when it holds lines we do
    not model (options, includes), so that the caller treats every line as changed."""
    if text is None:
        return {}
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            return None
        try:
            req = parse_requirement(line)
        except LockParseError:
            return None
        out[req.name] = re.sub(r"\s+", "", line)
    return out


def changed_requirements(
    base_text: str | None, head_text: str | None
) -> set[str] | None:
    """Projects whose line in a requirements file was added, removed or edited
    (None: the file cannot be compared line by line)."""
    old, new = parse_requirements_txt(base_text), parse_requirements_txt(head_text)
    if old is None or new is None:
        return None
    return {n for n in set(old) | set(new) if old.get(n) != new.get(n)}
