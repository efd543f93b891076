"""The base image every service and the proxy build FROM.

Uses the configured base (build-support/base-image/base-image.toml) when the engine has
it or can pull it; otherwise builds one locally with debootstrap. The local image's tag
hashes the base-image folder, so editing its definition builds a new one and an
unchanged definition is never rebuilt. The chosen image is also tagged with the alias
the Dockerfiles default to (`ecotrack/base:bookworm`).
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from release.adapters import docker_images, machine, proc
from release.base import console
from release.base.errors import ConfigError
from release.base.layout import ROOT

DEFINITION_DIR = ROOT / "build-support" / "base-image"
PULL_TIMEOUT_S = 60


@dataclass(frozen=True)
class BaseImageConfig:
    configured: str
    local_repository: str
    suite: str
    packages: tuple[str, ...]

    @classmethod
    def load(cls, path: Path = DEFINITION_DIR / "base-image.toml") -> "BaseImageConfig":
        try:
            data = tomllib.loads(path.read_text())
            return cls(
                configured=data["configured"],
                local_repository=data["local_repository"],
                suite=data["suite"],
                packages=tuple(data["packages"]),
            )
        except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: invalid base image definition ({exc})") from exc


def definition_hash(directory: Path = DEFINITION_DIR) -> str:
    h = hashlib.sha256()
    for p in sorted(directory.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(directory).as_posix().encode() + b"\0")
            h.update(p.read_bytes())
    return h.hexdigest()[:12]


def local_image_name(cfg: BaseImageConfig) -> str:
    return f"{cfg.local_repository}:{cfg.suite}-{definition_hash()}"


def alias_name(cfg: BaseImageConfig) -> str:
    return f"{cfg.local_repository}:{cfg.suite}"


def ensure_base_image(allow_pull: bool = True) -> str:
    """Makes the base alias point at a usable base image; returns the alias."""
    cfg = BaseImageConfig.load()
    chosen = _choose(cfg, allow_pull)
    docker_images.tag(chosen, alias_name(cfg))
    return alias_name(cfg)


def _choose(cfg: BaseImageConfig, allow_pull: bool) -> str:
    if docker_images.present(cfg.configured):
        return cfg.configured
    local = local_image_name(cfg)
    if docker_images.present(local):
        return local
    if allow_pull:
        console.info(f"base image: trying to pull {cfg.configured}")
        if docker_images.pull(cfg.configured, PULL_TIMEOUT_S):
            return cfg.configured
        console.detail(f"{cfg.configured} cannot be pulled here; building one locally")
    machine.ensure(("debootstrap",))
    with console.step(
        f"base image: building {local} with debootstrap (about a minute)"
    ):
        proc.run(
            [
                str(DEFINITION_DIR / "build-local.sh"),
                local,
                cfg.suite,
                ",".join(cfg.packages),
            ],
            timeout=1800,
        )
    return local
