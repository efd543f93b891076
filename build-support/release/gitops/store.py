"""Recording a change to an environment's manifest: validated, written atomically and
committed as its own commit of that one file (gitops/versions/<env>.json).

`local` is the exception: written, never committed (the file is ignored by git), so a
newcomer's releases never add commits to their branch. If the commit fails, the file
is put back byte for byte: a failed release leaves the manifest and git log as they
were.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from release.adapters import manifest_git
from release.base import atomic
from release.base.errors import ConfigError, UsageError
from release.base.layout import DEFAULT_ENV, ROOT
from release.model import releases
from release.model.manifest import Manifest, load, path_for, write_atomic

UNCOMMITTED_ENVS = (DEFAULT_ENV,)


def versions_dir(root: Path = ROOT) -> Path:
    return root / "gitops" / "versions"


def manifest_path(env: str, root: Path = ROOT) -> Path:
    return path_for(env, versions_dir(root))


def is_committed(env: str) -> bool:
    return env not in UNCOMMITTED_ENVS


def read(env: str, root: Path = ROOT, path: Path | None = None) -> Manifest:
    """The environment's manifest, validated (a missing file is an empty one).
    `path`: another file, for the uncommitted local manifest only."""
    return load(path or manifest_path(env, root), env)


def check_can_record(env: str, root: Path = ROOT) -> None:
    """Fails early, before any build or push, when the change could not be committed
    as a commit of its own."""
    if not is_committed(env):
        return
    rel = manifest_git.relative(root, manifest_path(env, root))
    if manifest_git.is_ignored(root, rel):
        raise ConfigError(f"{rel} is ignored by git, but the {env} manifest is kept")
    if manifest_git.has_changes(root, rel):
        raise UsageError(f"{rel} has uncommitted changes: commit or discard them first")
    manifest_git.check_identity(root)


def save(
    env: str,
    manifest: Manifest,
    message: str,
    root: Path = ROOT,
    path: Path | None = None,
) -> str | None:
    """Writes the manifest; commits it unless the environment is local. Returns the
    commit (None for local). `path`: as for read()."""
    if path is not None and is_committed(env):
        raise UsageError(f"the {env} manifest is kept in git: no other file")
    path = path or manifest_path(env, root)
    before = path.read_bytes() if path.exists() else None
    write_atomic(path, manifest)
    if not is_committed(env):
        return None
    try:
        return manifest_git.commit_only(
            root, manifest_git.relative(root, path), message
        )
    except BaseException:
        _restore(path, before)
        raise


def _restore(path: Path, before: bytes | None) -> None:
    if before is None:
        path.unlink(missing_ok=True)
        return
    atomic.write_atomic(path, before)


def default_replicas(env: str, service: str, root: Path = ROOT) -> int:
    """The replicas the environment's Compose files give a service."""
    gitops = root / "gitops"

    def doc(path: Path) -> dict:
        try:
            return yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            return {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not UTF-8 text") from None

    return releases.replicas_from_compose(
        doc(gitops / "compose.base.yaml"),
        doc(gitops / "environments" / env / "compose.yaml"),
        service,
    )
