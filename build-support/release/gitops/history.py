"""The deployment history of an environment, read from its manifest's git history.

Pure: the git adapter (adapters/manifest_git.py) supplies one Revision per commit that
touched gitops/versions/<env>.json, oldest first; here they become events (when, who,
service, from → to version and digest, commit) and rollback targets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from release.base.errors import UsageError
from release.model.manifest import Manifest, ManifestError, ServiceEntry, loads
from release.model.revision import Revision

# Fields whose change is a deployment event (deployed_at/by only describe one).
_CONTENT = ("image", "version", "git_sha", "replicas", "feature_flags")


@dataclass(frozen=True)
class Event:
    env: str
    service: str
    action: str  # added | updated (new image) | changed (same image) | removed
    when: str
    who: str
    commit: str
    committed_at: str
    subject: str
    from_version: str | None = None
    from_digest: str | None = None
    to_version: str | None = None
    to_digest: str | None = None
    to_image: str | None = None
    changed: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        d = asdict(self)
        d["changed"] = list(self.changed)
        return d


def manifests(
    env: str, revisions: Iterable[Revision]
) -> tuple[list[tuple[Revision, Manifest]], list[str]]:
    """Each revision's manifest (a deleted file is an empty manifest). Revisions that
    do not parse or validate are skipped, with a note naming the commit."""
    out: list[tuple[Revision, Manifest]] = []
    notes: list[str] = []
    for rev in revisions:
        if rev.text is None:
            out.append((rev, Manifest(environment=env, services={})))
            continue
        try:
            out.append((rev, loads(rev.text, f"{env}.json at {rev.commit[:12]}")))
        except ManifestError as exc:
            notes.append(f"skipped: {exc}")
    return out, notes


def _digest(entry: ServiceEntry) -> str:
    return entry.image_ref.digest


def _event(env: str, name: str, rev: Revision, old, new) -> Event | None:
    if new is not None and old is not None:
        changed = tuple(k for k in _CONTENT if getattr(old, k) != getattr(new, k))
        if not changed:
            return None
        action = "updated" if "image" in changed else "changed"
    else:
        changed = ()
        action = "added" if new is not None else "removed"
    return Event(
        env=env,
        service=name,
        action=action,
        when=new.deployed_at if new else rev.committed_at,
        who=new.deployed_by if new else rev.author,
        commit=rev.commit,
        committed_at=rev.committed_at,
        subject=rev.subject,
        from_version=old.version if old else None,
        from_digest=_digest(old) if old else None,
        to_version=new.version if new else None,
        to_digest=_digest(new) if new else None,
        to_image=new.image if new else None,
        changed=changed,
    )


def events(env: str, revisions: Sequence[Revision]) -> tuple[list[Event], list[str]]:
    """Every change to a service entry, newest first."""
    parsed, notes = manifests(env, revisions)
    per_commit: list[list[Event]] = []
    previous: dict[str, ServiceEntry] = {}
    for rev, manifest in parsed:
        current = manifest.services
        names = sorted(set(previous) | set(current))
        found = [_event(env, n, rev, previous.get(n), current.get(n)) for n in names]
        per_commit.append([e for e in found if e is not None])
        previous = current
    return [e for group in reversed(per_commit) for e in group], notes


def merge(*streams: Sequence[Event], order: Sequence[str] = ()) -> list[Event]:
    """Events of several environments, newest first: by position in `order` (commits,
    newest first, as `git log` lists them) when given, else by commit time. The sort
    is stable, so each commit's events keep their order."""
    flat = [e for s in streams for e in s]
    if order:
        rank = {c: i for i, c in enumerate(order)}
        return sorted(flat, key=lambda e: rank.get(e.commit, len(rank)))
    return sorted(flat, key=lambda e: e.committed_at, reverse=True)


def timeline(
    env: str, revisions: Sequence[Revision], service: str
) -> list[ServiceEntry]:
    """The service's entries over the manifest's history, oldest first."""
    parsed, _ = manifests(env, revisions)
    return [m.services[service] for _, m in parsed if service in m.services]


def rollback_target(
    entries: Sequence[ServiceEntry],
    current: ServiceEntry,
    *,
    env: str,
    service: str,
    to_version: str | None = None,
    steps: int = 1,
) -> ServiceEntry:
    """The earlier entry to restore. Earlier releases are the distinct images the
    service ran before, newest first, without the current one: `steps=1` is the one
    before now; `to_version` the newest earlier release of that version."""
    earlier: list[ServiceEntry] = []
    for entry in reversed(entries):
        if entry.image != current.image and all(
            entry.image != e.image for e in earlier
        ):
            earlier.append(entry)
    if not earlier:
        raise UsageError(f"no earlier release of {service} in {env} to roll back to")
    if to_version is not None:
        for entry in earlier:
            if entry.version == to_version:
                return entry
        known = ", ".join(dict.fromkeys(e.version for e in earlier))
        raise UsageError(
            f"no earlier release of {service} {to_version} in {env} (earlier: {known})"
        )
    if steps < 1:
        raise UsageError("--steps must be 1 or more")
    if steps > len(earlier):
        raise UsageError(
            f"{service} has {len(earlier)} earlier release(s) in {env}; "
            f"--steps {steps} goes further back than that"
        )
    return earlier[steps - 1]


def filter_events(events_: Iterable[Event], service: str | None) -> list[Event]:
    return [e for e in events_ if not service or e.service == service]
