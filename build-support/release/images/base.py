"""The base image every service and the proxy build FROM.

Uses the configured base (build-support/base-image/base-image.toml) when the engine has
it or can pull it; otherwise builds one locally with debootstrap. The local image's tag
hashes the base-image folder, so editing its definition builds a new one and an
unchanged definition is never rebuilt. The chosen image is also tagged with the alias
the Dockerfiles default to (`ecotrack/base:bookworm`).

The image is used by digest: the image ID (sha256 of its config) is recorded on first
use in <state dir>/base-image.json, per image name, and every later run checks it. The
builds get that ID as BASE_IMAGE (`FROM sha256:...`), so a tag moved to other content
(a re-pull, a `docker tag`, a tampered local build) is refused, never built upon.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from release.adapters import docker_images, machine, proc
from release.base import console
from release.base.errors import ConfigError
from release.base.layout import ROOT, state_dir

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


def record_path() -> Path:
    return state_dir() / "base-image.json"


def pin(name: str, record: Path | None = None) -> str:
    """The image ID of `name`, checked against the one recorded for it (recorded
    now if none was): a base image whose content changed is refused."""
    record = record or record_path()
    found = docker_images.image_id(name)
    if not found:
        raise ConfigError(f"base image {name} is not in the local engine")
    try:
        pins = json.loads(record.read_text())
    except FileNotFoundError:
        pins = {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{record}: unreadable base image record ({exc})") from None
    recorded = pins.get(name)
    if recorded is None:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({**pins, name: found}, indent=2) + "\n")
    elif recorded != found:
        raise ConfigError(
            f"base image {name} is {found} but {record} records {recorded}: "
            "refusing a base image that changed (remove its entry to accept it)"
        )
    return found


def ensure_base_image(allow_pull: bool = True, record: Path | None = None) -> str:
    """Makes the base alias point at a usable base image, checked against its
    recorded digest; returns that digest (the image ID) for BASE_IMAGE."""
    cfg = BaseImageConfig.load()
    chosen = _choose(cfg, allow_pull)
    digest = pin(chosen, record)
    docker_images.tag(digest, alias_name(cfg))
    return digest


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
