"""The desired state as the agent reads it from its clone: the manifest at a commit,
and which services changed since the commit it last synced."""

from __future__ import annotations

import yaml

from release.adapters.agent_clone import Checkout, desired_paths
from release.agent import state as agent_state
from release.model.manifest import Manifest, ManifestError, loads


def manifest_at(checkout: Checkout, env: str, head: str) -> Manifest:
    """The environment's manifest at `head`; a ManifestError when it is missing,
    unreadable or for another environment."""
    manifest_text = checkout.show(head, desired_paths(env)[0])
    manifest = (
        loads(manifest_text, f"{env}.json at {head[:12]}")
        if manifest_text is not None
        else None
    )
    if manifest is None:
        raise ManifestError(f"{desired_paths(env)[0]} does not exist at {head[:12]}")
    if manifest.environment != env:
        raise ManifestError(
            f"the manifest at {head[:12]} is for '{manifest.environment}'"
        )
    return manifest


def changed_since(
    checkout: Checkout, env: str, base: str, head: str, manifest: Manifest
) -> list[str] | None:
    """The services whose desired state differs between `base` and `head`; None
    when that cannot be told (no base, or it is missing or unreadable)."""
    if not base or not checkout.has(base):
        return None
    rel_manifest, *compose_rels = desired_paths(env)
    old_text = checkout.show(base, rel_manifest)
    try:
        old = loads(old_text, "old manifest") if old_text is not None else None
    except ManifestError:
        return None
    if old is None:
        return None

    def docs(commit: str) -> list[dict] | None:
        out = []
        for rel in compose_rels:
            text = checkout.show(commit, rel)
            try:
                out.append(yaml.safe_load(text or "") or {})
            except yaml.YAMLError:
                return None
        return out

    return agent_state.changed_services(old, manifest, docs(base), docs(head))
