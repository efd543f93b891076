"""The deploy log: one entry per deploy attempt, ok, failed, refused or rolled back.

Kept on the target itself (the Docker host; each host of a fleet; a Swarm's
manager) through HostAccess.record_deploy (adapters/deploy_log_volume.py: a volume
per project, a file per entry), so it outlives the machine that deployed, a CI
runner included, and `./inv audit` reads it from anywhere. The manifest in git says
what was desired; this says what each attempt did, who made it and why it failed.

Every entry is also appended to this machine's copy, `<state dir>/deploys/
<project>.jsonl` (one JSON line each, outside git, next to the secrets), marked with
whether the host took it. When the host could not (unreachable mid-deploy), the
deploy says so in one line and the entry stays here: nothing is lost, and
`./inv audit` shows it from this machine.

An entry (schema 1; the rollouts add `fleet_host`, `target`, `rolled_back`):

    id                  its name on the host: finish time (UTC, µs) and writer's pid
    at, finished_at     ISO 8601 UTC: when the attempt started and ended
    env, project, host  where: the engine's endpoint ("local": this machine's)
    by                  who: user@machine, or the CI actor and run
    result              ok | failed | refused | rolled_back
    reason              why it failed or was refused ("" when ok)
    commit              the commit the manifest's repository was at ("": not in git)
    manifest_committed  the manifest deployed is the one that commit holds
    releases            {manifest entry: {version, digest}}: what it was to deploy
    services            what each changed service did (engine/results.py Outcome)
    duration_s
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from release.base.errors import ReleaseError
from release.base.layout import state_dir
from release.engine.access import HostAccess
from release.model.manifest import Manifest, loads

SCHEMA = 1
RESULTS = ("ok", "failed", "refused", "rolled_back")


def log_path(project: str) -> Path:
    return state_dir() / "deploys" / f"{project}.jsonl"


def append(project: str, entry: dict) -> Path:
    path = log_path(project)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def read(project: str) -> list[dict]:
    """This machine's copy, oldest first."""
    path = log_path(project)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def entry_id(when: dt.datetime, pid: int) -> str:
    """Sorts as it was written; unique per writer (two deploys of one machine
    differ in pid, two machines in time to the microsecond)."""
    return when.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ") + f"-{pid}"


def newest_first(entries: Iterable[dict]) -> list[dict]:
    return sorted(entries, key=lambda e: str(e.get("id", "")), reverse=True)


def releases(manifest: Manifest | None, entries: Sequence[str]) -> dict:
    """What an attempt was to deploy: each named manifest entry's version and
    digest (an entry the manifest lacks is left out)."""
    out = {}
    for name in entries:
        e = (manifest.services if manifest else {}).get(name)
        if e is None:
            continue
        digest = e.image.split("@", 1)[1] if "@" in e.image else ""
        out[name] = {"version": e.version, "digest": digest}
    return out


def provenance(
    access: HostAccess, manifest_file: Path, manifest: Manifest | None
) -> dict:
    """The commit the deploy's manifest comes from, and whether the manifest
    deployed is exactly what that commit holds (False for an uncommitted edit, an
    ignored local.json, or a --manifest file of other content)."""
    commit, committed_text = access.manifest_revision(manifest_file)
    same = False
    if committed_text is not None and manifest is not None:
        try:
            same = loads(committed_text, str(manifest_file)) == manifest
        except ReleaseError:  # the committed file is broken: not what was deployed
            same = False
    return {"commit": commit, "manifest_committed": same}


def record(
    access: HostAccess,
    client,
    project: str,
    entry: dict,
    note: Callable[[str], None],
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
) -> dict:
    """Keeps one attempt on the host (`client`'s engine) and in this machine's
    copy; returns the entry as kept. A host that cannot take it is said in one line
    through `note`: the log never fails a deploy, and the entry is not lost."""
    finished = now()
    full = {
        "schema": SCHEMA,
        "id": entry_id(finished, os.getpid()),
        "finished_at": finished.replace(microsecond=0).isoformat(),
        **entry,
    }
    try:
        access.record_deploy(client, project, full["id"], full)
        kept_on_host = True
    except ReleaseError as exc:
        kept_on_host = False
        note(f"{exc}; the entry is kept on this machine ({log_path(project)})")
    append(project, {**full, "kept_on_host": kept_on_host})
    return full
