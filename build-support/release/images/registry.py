"""The one place an image registry is chosen: from --registry, or from the host the
manifest's images were recorded with (promote, rollback).

The interface and its rules are model/registry.py's; the registries themselves are
adapters (registry_local.py, registry_ecr.py).
"""

from __future__ import annotations

from release.model.registry import (
    DEFAULT_KIND,
    Registry,
    RegistryError,
    check_kind,
    kind_of_host,
)


def open_registry(kind: str = DEFAULT_KIND) -> Registry:
    """The one place a registry is chosen (from --registry or from an image's host)."""
    check_kind(kind)
    if kind == "ecr":
        from release.adapters.registry_ecr import EcrRegistry

        return EcrRegistry.from_env()
    from release.adapters.registry_local import LocalRegistry

    return LocalRegistry.from_env()


def registry_holding(hosts: set[str]) -> Registry:
    """The registry that holds images recorded with these hosts (promote, rollback):
    chosen once from the manifest, running, and at that very address."""
    if len(hosts) != 1:
        raise RegistryError(
            f"images from {len(hosts)} registries ({', '.join(sorted(hosts))}); "
            "promote them one registry at a time"
        )
    host = next(iter(hosts))
    kind = kind_of_host(host)
    registry = open_registry(kind)
    registry.ensure_running()
    if registry.address != host:
        raise RegistryError(
            f"the manifest's images are in {host or '(no registry host)'}, but the "
            f"{kind} registry here is {registry.address}"
        )
    return registry
