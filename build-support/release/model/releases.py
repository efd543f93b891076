"""What a release writes, as pure functions: the image tag, the manifest entry, the
commit message, the promoted tag, a service's version and its default replicas.

No I/O here: publish/pipeline.py, gitops/promote.py and gitops/rollback.py gather the
facts and call these.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from release.base.errors import ConfigError
from release.base.layout import ENVIRONMENTS
from release.model.manifest import ServiceEntry

TAG_MAX = 128
DIRTY_HASH = 12
SHORT_SHA = 7
_VERSION = re.compile(r"""^VERSION\s*=\s*["']([^"'\s]+)["']\s*$""", re.MULTILINE)


def timestamp(now: datetime) -> str:
    """RFC 3339, UTC, whole seconds: 2026-11-28T22:00:00Z."""
    return now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sanitize(name: str) -> str:
    """A branch name as a tag part: [a-z0-9_.-], no leading '.' or '-'."""
    cleaned = re.sub(r"[^a-z0-9_.-]+", "-", name.lower())
    cleaned = re.sub(r"-{2,}", "-", cleaned).strip(".-")
    return cleaned or "detached"


def image_tag(branch: str, sha: str, dirty_fingerprint: str = "") -> str:
    """`<branch>-<short sha>`: immutable, one per commit. A build from a dirty tree
    (local only) gets `-dirty-<hash of the uncommitted changes>`: two different edits
    never share a tag, and rebuilding the same edit gives the same tag (and image), so
    a second `./inv up` with nothing new to ship changes nothing."""
    suffix = f"-{sha[:SHORT_SHA]}"
    if dirty_fingerprint:
        suffix += "-dirty-" + dirty_fingerprint[:DIRTY_HASH]
    return sanitize(branch)[: TAG_MAX - len(suffix)].rstrip(".-") + suffix


def promoted_tag(env: str, tag: str) -> str:
    """The tag an image gets in `env` when promoted: `prod-main-3f2a9c1`. A tag that
    came from an earlier promotion loses that prefix first (not `prod-staging-...`)."""
    for known in ENVIRONMENTS:
        if tag.startswith(f"{known}-"):
            tag = tag[len(known) + 1 :]
            break
    return f"{env}-{tag}"[:TAG_MAX]


def read_version(text: str, source: str) -> str:
    """`VERSION = "1.3.0"` from a service's version.py (read as text, not imported)."""
    m = _VERSION.search(text)
    if not m:
        raise ConfigError(f'{source}: no line VERSION = "<version>"')
    return m.group(1)


def replicas_from_compose(base: Mapping, overlay: Mapping, service: str) -> int:
    """The replicas Compose would run: the environment file's, else the base's, else 1.
    (Both documents as parsed from YAML, merge keys resolved.)"""
    for doc in (overlay, base):
        svc = ((doc or {}).get("services") or {}).get(service) or {}
        replicas = (svc.get("deploy") or {}).get("replicas")
        if isinstance(replicas, int):
            return replicas
    return 1


def new_entry(
    previous: ServiceEntry | None,
    *,
    image: str,
    version: str,
    git_sha: str,
    now: datetime,
    actor: str,
    default_replicas: int,
    default_flags: Mapping[str, str] | None = None,
) -> ServiceEntry:
    """A manifest entry for a new image. Replicas and feature flags belong to the
    environment: kept from the previous entry, or the defaults for a new service."""
    return ServiceEntry(
        image=image,
        version=version,
        git_sha=git_sha,
        deployed_at=timestamp(now),
        deployed_by=actor,
        replicas=previous.replicas if previous else default_replicas,
        feature_flags=dict(
            previous.feature_flags if previous else (default_flags or {})
        ),
    )


def restored_entry(
    earlier: ServiceEntry, current: ServiceEntry, now: datetime, actor: str
) -> ServiceEntry:
    """A rollback: the earlier entry (image, version, commit, feature flags) with
    today's replicas, recorded as deployed now by `actor`."""
    return replace(
        earlier,
        deployed_at=timestamp(now),
        deployed_by=actor,
        replicas=current.replicas,
        feature_flags=dict(earlier.feature_flags),
    )


@dataclass(frozen=True)
class Line:
    service: str
    version: str
    tag: str


def commit_message(env: str, lines: Sequence[Line], note: str = "") -> str:
    """`release(staging): waste 1.3.0 main-3f2a9c1, auth 1.0.1 main-3f2a9c1`."""
    body = ", ".join(f"{x.service} {x.version} {x.tag}" for x in lines)
    return f"release({env}): {body}" + (f" ({note})" if note else "")
