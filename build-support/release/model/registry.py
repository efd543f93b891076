"""An image registry as every stage sees it: one small interface, its errors, and the
pure rules for tags and digests (images/registry.py chooses one).

`local` (the embedded default) is Debian's docker-registry on 127.0.0.1, started on
demand (adapters/registry_local.py); `ecr` is Amazon ECR through boto3 with the standard
AWS configuration (adapters/registry_ecr.py). Both push with the Docker CLI and read
digests back from the registry itself; re-tagging never pulls or pushes an image.

A `repository` here is the path inside the registry (`ecotrack/waste`); `address` is
the registry host the manifest records (`127.0.0.1:5000`, `<account>.dkr.ecr.<region>
.amazonaws.com`), so `f"{address}/{repository}:{tag}@{digest}"` is a manifest image.
"""

from __future__ import annotations

import re
from typing import Protocol

from release.base.errors import ReleaseError

KINDS = ("local", "ecr")
DEFAULT_KIND = "local"

_ECR_HOST = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
_PUSH_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")


class RegistryError(ReleaseError):
    """The registry is down, refuses, or holds something other than expected."""


class CredentialsError(RegistryError):
    """No usable credentials for the registry (AWS profile, env vars, role...)."""


class Secret:
    """A value that never prints: tokens and passwords stay out of logs and errors."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__


class Registry(Protocol):
    kind: str

    @property
    def address(self) -> str:
        """The registry host recorded in manifests."""

    def ensure_running(self) -> None:
        """Answers, or is started (local) / reachable with credentials (ECR)."""

    def login(self) -> None:
        """Lets the Docker client push here."""

    def push(self, local_ref: str, repository: str, tag: str) -> str:
        """Pushes a local image as repository:tag and returns the registry's digest.

        A tag that already exists is success when it holds this very image, and a
        RegistryError when it holds another: tags are immutable."""

    def digest_of(self, repository: str, tag: str) -> str | None:
        """The digest the tag points at, None when the tag is not there."""

    def retag(self, repository: str, digest: str, new_tag: str) -> None:
        """Adds new_tag to the image with that digest, inside the registry."""

    def has_tag(self, repository: str, tag: str) -> bool: ...


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise RegistryError(f"unknown registry '{kind}' (known: {', '.join(KINDS)})")
    return kind


def kind_of_host(host: str) -> str:
    """Which kind of registry an image host is: ECR's hosts are recognisable."""
    return "ecr" if _ECR_HOST.match(host) else "local"


def parse_push_digest(output: str) -> str:
    """The digest `docker push` reports on its last line (`<tag>: digest: ...`)."""
    found = _PUSH_DIGEST.findall(output)
    if not found:
        raise RegistryError("docker push did not report a digest")
    return found[-1]


def accept_existing(name: str, tag: str, existing: str, pushed: set[str]) -> str:
    """A tag that is already in the registry: success only if it is our image.

    `pushed` holds the digests this engine recorded when it pushed the local image to
    that repository (empty when it never did)."""
    if existing in pushed:
        return existing
    raise RegistryError(
        f"{name}:{tag} already exists with digest {short(existing)} and the image "
        "built now is a different one; tags are immutable (publish a new commit)"
    )


def verify_tag(name: str, tag: str, expected: str, actual: str | None) -> None:
    """The registry's tag must exist and point at the digest the manifest names."""
    if actual is None:
        raise RegistryError(f"tag {name}:{tag} is not in the registry")
    if actual != expected:
        raise RegistryError(
            f"digest mismatch for {name}:{tag}: expected {short(expected)}, "
            f"the registry has {short(actual)}"
        )


def short(digest: str) -> str:
    """sha256:0123456789ab (enough to tell digests apart in a line of text)."""
    return digest[:19]
