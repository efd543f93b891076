"""Where things are in the repository, and the services it holds.

A service is a folder under services/ whose BUILD file declares it with the
`ecotrack_service(...)` macro (build-support/macros.py, which also generates its
Dockerfile); its image target is `services/<name>:image` and its image repository
`ecotrack/<name>`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from release.base.errors import UsageError

ROOT = Path(__file__).resolve().parents[3]
SERVICES_DIR = ROOT / "services"
GITOPS_DIR = ROOT / "gitops"
ENVIRONMENTS = ("local", "staging", "prod")
DEFAULT_ENV = "local"
IMAGE_NAMESPACE = "ecotrack"
# The entry point is released like a service: built by Pants, pushed, pinned in the
# manifest. It has no code of its own under services/.
PROXY = "proxy"
PROXY_TARGET = "gitops/proxy:image"
# The BUILD-file call that declares a service (and all of its targets).
SERVICE_MACRO = "ecotrack_service"


@dataclass(frozen=True)
class Service:
    name: str

    @property
    def directory(self) -> Path:
        return SERVICES_DIR / self.name

    @property
    def image_target(self) -> str:
        return PROXY_TARGET if self.name == PROXY else f"services/{self.name}:image"

    @property
    def repository(self) -> str:
        return image_repository(self.name)


def image_repository(name: str) -> str:
    """The one place image repositories are named (matches pants.toml's default)."""
    return f"{IMAGE_NAMESPACE}/{name}"


def image_ref(name: str, tag: str) -> str:
    return f"{image_repository(name)}:{tag}"


def services(root: Path = ROOT) -> list[Service]:
    base = root / "services"
    return [Service(p.name) for p in sorted(base.iterdir()) if is_service_dir(p)]


def is_service_dir(path: Path) -> bool:
    build = path / "BUILD"
    return build.is_file() and f"{SERVICE_MACRO}(" in build.read_text()


@dataclass(frozen=True)
class GitopsTree:
    """A gitops/ folder: this checkout's, or the agent's clone of the repository.
    Passed down as a value, so nothing swaps a global to look at another tree."""

    root: Path

    def compose_files(self, env: str) -> list[Path]:
        return [
            self.root / "compose.base.yaml",
            self.root / "environments" / env / "compose.yaml",
        ]

    def manifest(self, env: str) -> Path:
        return self.root / "versions" / f"{env}.json"


GITOPS = GitopsTree(GITOPS_DIR)


def released_images(root: Path = ROOT) -> list[str]:
    """What a manifest pins: every service's image, and the proxy's (when the
    repository has one)."""
    proxy = [PROXY] if (root / "gitops" / PROXY / "BUILD").is_file() else []
    return [s.name for s in services(root)] + proxy


def select_services(names: list[str] | None, root: Path = ROOT) -> list[Service]:
    """The named services (all when none are named); unknown names are an error."""
    known = {s.name: s for s in services(root)}
    if not names:
        return list(known.values())
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise UsageError(
            f"unknown service {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    return [known[n] for n in sorted(set(names))]


def project_name(env: str, project: str = "") -> str:
    """The Compose project an environment runs as: the one place it defaults."""
    return project or f"ecotrack-{env}"


def check_env(env: str) -> str:
    if env not in ENVIRONMENTS:
        raise UsageError(
            f"unknown environment '{env}' (known: {', '.join(ENVIRONMENTS)})"
        )
    return env


def state_dir() -> Path:
    """Host-side state kept outside the repository (secrets, locks, logs)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "ecotrack"
