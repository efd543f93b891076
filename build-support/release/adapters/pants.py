"""Runs Pants (./pants) for the tooling: packaging images, lint, tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from release.adapters import machine, proc
from release.base.layout import ROOT
from release.machine import bootstrap

PANTS = str(ROOT / "pants")


def pants(
    args: Sequence[str], env: Mapping[str, str] | None = None, capture: bool = False
):
    machine.ensure(bootstrap.PANTS)  # pex fails under a site-wide pip constraint
    return proc.run([PANTS, *args], cwd=ROOT, env=env, capture=capture)


def package(
    targets: Sequence[str], build_args: Mapping[str, str], capture: bool = False
) -> None:
    """Builds the targets; docker_image targets get BASE_IMAGE, GIT_SHA and IMAGE_TAG
    from the environment (pants.toml's [docker].build_args lists them)."""
    pants(
        ["package", *targets],
        env={**build_args, "DOCKER_BUILDKIT": "0"},
        capture=capture,
    )
