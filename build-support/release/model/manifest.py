"""The environment manifest, gitops/versions/<env>.json: what should run where.

Pure data in, data out: constructed from dicts and validated eagerly against the JSON
Schema committed at gitops/manifest.schema.json on every read and write. Formatting is
deterministic (sorted keys, two-space indent, trailing newline), so a one-service
release is a one-entry diff. Writing is atomic (temp file + rename).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import jsonschema

from release.base import atomic
from release.base.errors import ReleaseError
from release.base.layout import GITOPS_DIR

SCHEMA_PATH = GITOPS_DIR / "manifest.schema.json"
VERSIONS_DIR = GITOPS_DIR / "versions"


class ManifestError(ReleaseError):
    """A manifest that cannot be read, parsed or validated."""


@dataclass(frozen=True)
class ImageRef:
    """registry/repository:tag@sha256:digest, parsed and built in one place."""

    repository: str  # including the registry host, e.g. 127.0.0.1:5000/ecotrack/waste
    tag: str
    digest: str  # "sha256:<64 hex>"

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag}@{self.digest}"

    @property
    def registry(self) -> str:
        first = self.repository.split("/", 1)[0]
        return first if ("." in first or ":" in first or first == "localhost") else ""

    @property
    def path(self) -> str:
        """The repository without its registry host (ecotrack/waste)."""
        return (
            self.repository[len(self.registry) + 1 :]
            if self.registry
            else self.repository
        )


_IMAGE_RE = re.compile(
    r"^(?P<repo>[a-z0-9][a-z0-9._:/-]*?):(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})"
    r"@(?P<digest>sha256:[0-9a-f]{64})$"
)


def parse_image(ref: str) -> ImageRef:
    m = _IMAGE_RE.match(ref)
    if not m:
        raise ManifestError(
            f"image '{ref}' is not of the form repository:tag@sha256:<digest>"
        )
    return ImageRef(m.group("repo"), m.group("tag"), m.group("digest"))


@dataclass(frozen=True)
class ServiceEntry:
    image: str
    version: str
    git_sha: str
    deployed_at: str
    deployed_by: str
    replicas: int
    feature_flags: dict[str, str] = field(default_factory=dict)

    @property
    def image_ref(self) -> ImageRef:
        return parse_image(self.image)


@dataclass(frozen=True)
class Manifest:
    environment: str
    services: dict[str, ServiceEntry]

    def with_service(self, name: str, entry: ServiceEntry) -> "Manifest":
        return replace(self, services={**self.services, name: entry})

    def to_dict(self) -> dict:
        return {
            "environment": self.environment,
            "services": {n: asdict(e) for n, e in sorted(self.services.items())},
        }


def _schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def validate(data: object, source: str) -> None:
    """Raises ManifestError naming the file and the offending key."""
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(top level)"
        raise ManifestError(f"{source}: invalid manifest at {where}: {first.message}")


def from_dict(data: object, source: str = "manifest") -> Manifest:
    validate(data, source)
    assert isinstance(data, dict)
    return Manifest(
        environment=data["environment"],
        services={n: ServiceEntry(**e) for n, e in data["services"].items()},
    )


def dumps(manifest: Manifest) -> str:
    data = manifest.to_dict()
    validate(data, f"manifest for {manifest.environment}")
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def decode(content: bytes, source: str) -> str:
    """Manifests are UTF-8 JSON; other bytes are a ManifestError, not a traceback."""
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(
            f"{source}: not UTF-8 text (byte {exc.start} is "
            f"{content[exc.start]:#04x}); manifests are UTF-8 JSON"
        ) from None


def loads(content: str | bytes, source: str) -> Manifest:
    """Parses and validates a manifest; bytes (a file, a git blob) must be UTF-8."""
    text = decode(content, source) if isinstance(content, bytes) else content
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(
            f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})"
        )
    return from_dict(data, source)


def path_for(env: str, versions_dir: Path = VERSIONS_DIR) -> Path:
    return versions_dir / f"{env}.json"


def load(path: Path, env: str | None = None) -> Manifest:
    """Reads a manifest; a missing file is an empty manifest for `env`."""
    if not path.exists():
        if env is None:
            raise ManifestError(f"{path}: no such manifest")
        return Manifest(environment=env, services={})
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"{path}: cannot be read ({exc.strerror})") from None
    manifest = loads(content, str(path))
    if env is not None and manifest.environment != env:
        raise ManifestError(
            f"{path}: says environment '{manifest.environment}', expected '{env}'"
        )
    return manifest


def write_atomic(path: Path, manifest: Manifest) -> None:
    text = dumps(manifest)  # validates before anything touches the disk
    atomic.write_atomic(path, text)
