"""Builds the service and proxy images with Pants and names them.

Tags carry the commit: `sha-<12 hex>` for a clean tree, `sha-<12 hex>-dirty` when
tracked files differ from HEAD (so a local edit never masquerades as a commit).
"""

from __future__ import annotations

from dataclasses import dataclass

from release.adapters import machine, pants, worktree_git
from release.base import console
from release.base.layout import PROXY, PROXY_TARGET, Service, image_ref
from release.images.base import ensure_base_image
from release.machine import bootstrap


@dataclass(frozen=True)
class BuildInfo:
    git_sha: str
    tag: str


def build_info() -> BuildInfo:
    sha = worktree_git.head_sha()
    tag = f"sha-{sha[:12]}" + ("-dirty" if worktree_git.is_dirty() else "")
    return BuildInfo(git_sha=sha, tag=tag)


def build_images(
    services: list[Service],
    include_proxy: bool = True,
    info: BuildInfo | None = None,
    quiet: bool = False,
) -> dict[str, str]:
    """Builds the images with Pants; returns {name: image reference}.

    `info` sets the commit and tag (default: HEAD, `sha-<12 hex>`); `quiet` keeps
    Pants' output off the terminal (shown only if the build fails)."""
    # debootstrap only when the base image has to be built here (ensure_base_image):
    # a CI runner that pulls python:3.11-slim installs nothing for it.
    machine.ensure((*bootstrap.PANTS, *bootstrap.ENGINE))
    base = ensure_base_image()
    info = info or build_info()
    targets = [s.image_target for s in services] + (
        [PROXY_TARGET] if include_proxy else []
    )
    names = [s.name for s in services] + ([PROXY] if include_proxy else [])
    with console.step(
        f"building {len(targets)} images with Pants (tag {info.tag}, base {base})"
    ):
        pants.package(
            targets,
            {"BASE_IMAGE": base, "GIT_SHA": info.git_sha, "IMAGE_TAG": info.tag},
            capture=quiet,
        )
    return {name: image_ref(name, info.tag) for name in names}
