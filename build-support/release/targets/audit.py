"""The deploy logs a target keeps (engine/deploy_log.py), read from each of its
engines and merged newest first: what `./inv audit` shows and `./inv status` takes
the last deploy from.

Each engine keeps its own log (a fleet's hosts each theirs), so the merge names the
host every entry came from. Entries this machine could not hand to a host (it was
unreachable mid-deploy) are in its local copy only, marked so: they are merged in
for that host and shown as kept "local", so nothing written is missing here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from release.base.errors import ReleaseError
from release.engine import deploy_log
from release.engine.access import HostAccess
from release.targets.target import Place, Target

HOST, LOCAL = "host", "local"  # where an entry was read from


@dataclass(frozen=True)
class HostLog:
    """One engine's log: its entries (annotated), or why it could not be read."""

    place: Place
    entries: tuple[dict, ...]
    error: str = ""

    def to_dict(self) -> dict:
        return {
            "name": self.place.name,
            "endpoint": self.place.endpoint,
            "entries": len(self.entries),
            "error": self.error,
        }


@dataclass(frozen=True)
class AuditLog:
    environment: str
    project: str
    target: str  # the target's kind, for output
    hosts: tuple[HostLog, ...]
    entries: tuple[dict, ...]  # newest first, at most `limit`
    matching: int  # entries that matched before the limit
    limit: int

    @property
    def unreadable(self) -> tuple[HostLog, ...]:
        return tuple(h for h in self.hosts if h.error)

    def to_dict(self) -> dict:
        return {
            "environment": self.environment,
            "project": self.project,
            "target": self.target,
            "limit": self.limit,
            "matching": self.matching,
            "hosts": [h.to_dict() for h in self.hosts],
            "entries": list(self.entries),
        }


def host_log(
    access: HostAccess,
    client,
    place: Place,
    project: str,
    local: Callable[[str], list[dict]] = deploy_log.read,
) -> HostLog:
    """The entries `place` keeps (`client`: its engine's, or None if it was not
    reached) and the ones only this machine kept for it, newest first."""
    kept, error = [], ""
    if client is not None:
        try:
            kept = access.read_deploys(client, project)
        except ReleaseError as exc:
            error = str(exc)
    ids = {e.get("id") for e in kept}
    stranded = [
        e
        for e in local(project)
        if e.get("kept_on_host") is False
        and e.get("host") == place.where
        and e.get("id") not in ids
    ]
    entries = [_annotated(e, place, HOST) for e in kept]
    entries += [_annotated(e, place, LOCAL) for e in stranded]
    return HostLog(place, tuple(deploy_log.newest_first(entries)), error)


def _annotated(entry: dict, place: Place, kept: str) -> dict:
    out = {k: v for k, v in entry.items() if k != "kept_on_host"}
    return {**out, "log_host": place.name, "kept": kept}


def touches(entry: dict, services: Sequence[str]) -> bool:
    """Whether an attempt concerned one of `services` (by manifest entry or by
    Compose service); no services: every attempt does."""
    if not services:
        return True
    named = set(entry.get("releases") or {}) | {
        o.get("service") for o in entry.get("services") or [] if isinstance(o, dict)
    }
    return bool(named & set(services))


def connect(access: HostAccess, place: Place):
    """(The engine's client, ""), or (None, why) when it cannot be reached."""
    try:
        return access.connect(place.endpoint), ""
    except ReleaseError as exc:
        return None, str(exc)


def read(
    target: Target,
    project: str,
    services: Sequence[str] = (),
    limit: int = 20,
    local: Callable[[str], list[dict]] = deploy_log.read,
) -> AuditLog:
    """Every engine's log of `project`, merged newest first, the attempts on
    `services` only (default: all), at most `limit`."""
    hosts = []
    for place in target.places():
        client, unreachable = connect(target.access, place)
        log = host_log(target.access, client, place, project, local)
        hosts.append(HostLog(place, log.entries, unreachable or log.error))
    merged = deploy_log.newest_first(
        e for h in hosts for e in h.entries if touches(e, services)
    )
    return AuditLog(
        target.env,
        project,
        target.kind,
        tuple(hosts),
        tuple(merged[:limit]),
        len(merged),
        limit,
    )
