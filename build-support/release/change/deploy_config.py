"""Which services a change to deployment configuration touches (pure).

Deployment configuration is the Compose files under gitops/ and the per-environment
manifests (gitops/versions/<env>.json, per-service entries under "services"). A change
there redeploys the services it touches; it never changes an image.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

import yaml

COMPOSE_PATTERNS = ("gitops/compose*.yaml", "gitops/environments/*/compose*.yaml")
MANIFEST_PATTERNS = ("gitops/versions/*.json",)
_IMAGE_VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)_IMAGE\b")


def _matches(path: str, patterns: Iterable[str]) -> bool:
    return any(
        fnmatch.fnmatchcase(path, p) and path.count("/") == p.count("/")
        for p in patterns
    )


def is_compose(path: str) -> bool:
    return _matches(path, COMPOSE_PATTERNS)


def is_manifest(path: str) -> bool:
    return _matches(path, MANIFEST_PATTERNS)


def is_deploy_config(path: str) -> bool:
    return is_compose(path) or is_manifest(path)


@dataclass(frozen=True)
class DeployChange:
    services: frozenset[str]  # our services (names under services/)
    others: frozenset[str] = frozenset()  # touched entries that are not services
    note: str = ""  # why everything counts as touched, if so


def _service_of(name: str, definition: object, services: frozenset[str]) -> str:
    """A Compose service is ours by name, or by the image variable it runs
    (`waste-worker` runs `${WASTE_IMAGE}`, so it belongs to waste)."""
    if name in services:
        return name
    image = definition.get("image", "") if isinstance(definition, dict) else ""
    m = _IMAGE_VARIABLE.search(str(image))
    if m:
        candidate = m.group(1).lower().replace("_", "-")
        if candidate in services:
            return candidate
    return ""


def _split_known(names: Iterable[tuple[str, object]], services: frozenset[str]):
    ours, others = set(), set()
    for name, definition in names:
        s = _service_of(name, definition, services)
        (ours.add(s) if s else others.add(name))
    return frozenset(ours), frozenset(others)


def compose_change(
    base_text: str | None, head_text: str | None, services: Iterable[str]
) -> DeployChange:
    known = frozenset(services)
    try:
        old = yaml.safe_load(base_text) if base_text else {}
        new = yaml.safe_load(head_text) if head_text else {}
        old, new = old or {}, new or {}
        if not isinstance(old, dict) or not isinstance(new, dict):
            raise ValueError("not a mapping")
    except (yaml.YAMLError, ValueError) as exc:
        return DeployChange(
            known, note=f"unreadable Compose file ({exc.__class__.__name__})"
        )
    old_s, new_s = old.get("services") or {}, new.get("services") or {}
    touched = [
        (n, new_s.get(n, old_s.get(n)))
        for n in sorted(set(old_s) | set(new_s))
        if old_s.get(n) != new_s.get(n)
    ]
    # Top-level networks, volumes, configs...: every service of the file may use them.
    # Extension fields (x-*) reach services through merges, compared above already.
    top = sorted(
        k
        for k in set(old) | set(new)
        if k != "services" and not str(k).startswith("x-") and old.get(k) != new.get(k)
    )
    if top:
        every = [(n, d) for n, d in {**old_s, **new_s}.items()]
        ours, others = _split_known(every, known)
        return DeployChange(ours, others, note=f"top-level {', '.join(top)} changed")
    ours, others = _split_known(touched, known)
    return DeployChange(ours, others)


def manifest_change(
    base_text: str | None, head_text: str | None, services: Iterable[str]
) -> DeployChange:
    known = frozenset(services)
    try:
        old = json.loads(base_text) if base_text else {}
        new = json.loads(head_text) if head_text else {}
        old_s, new_s = old.get("services") or {}, new.get("services") or {}
        if not isinstance(old_s, dict) or not isinstance(new_s, dict):
            raise ValueError("'services' is not an object")
    except (json.JSONDecodeError, ValueError, AttributeError) as exc:
        return DeployChange(
            known, note=f"unreadable manifest ({exc.__class__.__name__})"
        )
    names = set(old_s) | set(new_s)
    top = sorted(
        k for k in set(old) | set(new) if k != "services" and old.get(k) != new.get(k)
    )
    if top:
        touched = names
        note = f"top-level {', '.join(top)} changed"
    else:
        touched = {n for n in names if old_s.get(n) != new_s.get(n)}
        note = ""
    return DeployChange(
        frozenset(n for n in touched if n in known),
        frozenset(n for n in touched if n not in known),
        note,
    )


def change(
    path: str, base_text: str | None, head_text: str | None, services
) -> DeployChange:
    if is_manifest(path):
        return manifest_change(base_text, head_text, services)
    return compose_change(base_text, head_text, services)
