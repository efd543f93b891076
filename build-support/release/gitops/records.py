"""Release records: a pushed image described in a file of its own, and `./inv record`
applying such files to an environment's manifest as one commit.

CI publishes each service in its own job, and parallel jobs committing the same
gitops/versions/<env>.json would race (and a runner's commit is lost with the runner).
So each job pushes and writes a record (`./inv publish --release-out DIR`), and one
fan-in job applies them all. Applying is idempotent: a record whose image the manifest
already names changes nothing, and one older than the manifest's entry (its commit an
ancestor of the entry's, e.g. an old workflow run re-run) is skipped as superseded.

A record, <DIR>/<service>.json:

    {"format": "ecotrack-release-record/1", "env": "staging", "service": "waste",
     "version": "1.3.0", "tag": "main-3f2a9c1",
     "image": "<registry>/ecotrack/waste:main-3f2a9c1@sha256:<64 hex>",
     "digest": "sha256:<64 hex>", "git_sha": "<40 hex>",
     "published_at": "2026-11-28T22:00:00Z", "published_by": "octocat (ci)"}
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from release.adapters import manifest_git
from release.base import atomic, console
from release.base.errors import ReleaseError
from release.base.layout import ROOT, check_env, image_repository, released_images
from release.gitops import store as manifest_store
from release.model import releases
from release.model.manifest import Manifest, ManifestError, parse_image
from release.model.registry import short

FORMAT = "ecotrack-release-record/1"
_SHA = re.compile(r"^[0-9a-f]{7,40}$")
_TIME = "%Y-%m-%dT%H:%M:%SZ"


class RecordError(ReleaseError):
    """A release record that cannot be read, or does not describe a valid release."""


@dataclass(frozen=True)
class ReleaseRecord:
    env: str
    service: str
    version: str
    tag: str
    image: str
    digest: str
    git_sha: str
    published_at: str
    published_by: str

    def to_dict(self) -> dict:
        return {"format": FORMAT, **asdict(self)}

    @property
    def line(self) -> releases.Line:
        return releases.Line(self.service, self.version, self.tag)


_FIELDS = tuple(f.name for f in fields(ReleaseRecord))


# -- files ---------------------------------------------------------------------------


def write(records: Iterable[ReleaseRecord], out_dir: Path) -> list[Path]:
    """One file per service, <out_dir>/<service>.json, each written atomically."""
    paths = []
    for r in records:
        path = out_dir / f"{r.service}.json"
        atomic.write_atomic(path, json.dumps(r.to_dict(), indent=2) + "\n")
        paths.append(path)
    return paths


def record_files(path: Path) -> list[Path]:
    """The record files at `path`: the file itself, or every *.json below a directory
    (download-artifact may or may not put each artifact in a folder of its own)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise RecordError(f"{path}: no such file or directory")
    files = sorted(p for p in path.rglob("*.json") if p.is_file())
    if not files:
        raise RecordError(f"{path}: no release records (*.json) in it")
    return files


def load(path: Path) -> ReleaseRecord:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise RecordError(f"{path}: cannot be read ({exc.strerror})") from None
    except ValueError as exc:
        raise RecordError(f"{path}: not valid JSON ({exc})") from None
    return parse(data, str(path))


def parse(data: object, source: str) -> ReleaseRecord:
    """A record, checked field by field; RecordError names the file and the field."""
    if not isinstance(data, dict):
        raise RecordError(f"{source}: not a release record (expected a JSON object)")
    if data.get("format") != FORMAT:
        raise RecordError(
            f"{source}: format is {data.get('format')!r}, expected {FORMAT!r}"
        )
    values = {k: v for k, v in data.items() if k != "format"}
    missing = [k for k in _FIELDS if k not in values]
    unknown = sorted(set(values) - set(_FIELDS))
    if missing or unknown:
        what = [f"missing {', '.join(missing)}"] if missing else []
        what += [f"unknown {', '.join(unknown)}"] if unknown else []
        raise RecordError(f"{source}: {'; '.join(what)}")
    for key in _FIELDS:
        if not isinstance(values[key], str) or not values[key]:
            raise RecordError(f"{source}: {key} must be a non-empty string")
    rec = ReleaseRecord(**values)
    _check_fields(rec, source)
    return rec


def _check_fields(rec: ReleaseRecord, source: str) -> None:
    try:
        ref = parse_image(rec.image)
    except ManifestError as exc:
        raise RecordError(f"{source}: {exc}") from None
    if (ref.tag, ref.digest) != (rec.tag, rec.digest):
        raise RecordError(
            f"{source}: image {rec.image} does not match tag {rec.tag} "
            f"and digest {rec.digest}"
        )
    if ref.path != image_repository(rec.service):
        raise RecordError(f"{source}: image {rec.image} is not of {rec.service}")
    if not _SHA.match(rec.git_sha):
        raise RecordError(f"{source}: git_sha '{rec.git_sha}' is not a commit id")
    try:
        published_at(rec)
    except ValueError:
        raise RecordError(
            f"{source}: published_at '{rec.published_at}' is not a UTC time "
            "like 2026-11-28T22:00:00Z"
        ) from None


def published_at(rec: ReleaseRecord) -> datetime:
    return datetime.strptime(rec.published_at, _TIME).replace(tzinfo=timezone.utc)


def read(path: Path, env: str, known: Sequence[str]) -> list[ReleaseRecord]:
    """Every record at `path`, all validated before any is used: for `env`, of a
    known service, at most one image per service (identical copies are one)."""
    chosen: dict[str, tuple[ReleaseRecord, Path]] = {}
    for file in record_files(path):
        rec = load(file)
        if rec.env != env:
            raise RecordError(f"{file}: a release to {rec.env}, not to {env}")
        if rec.service not in known:
            raise RecordError(
                f"{file}: unknown service '{rec.service}' "
                f"(known: {', '.join(sorted(known))})"
            )
        seen = chosen.get(rec.service)
        if seen and seen[0] != rec:
            raise RecordError(
                f"{file}: a second release of {rec.service} ({rec.image}), "
                f"{seen[1]} has {seen[0].image}"
            )
        chosen.setdefault(rec.service, (rec, file))
    return [chosen[name][0] for name in sorted(chosen)]


# -- applying ------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    manifest: Manifest
    recorded: tuple[ReleaseRecord, ...] = ()
    already: tuple[ReleaseRecord, ...] = ()  # the manifest names this very image
    superseded: tuple[ReleaseRecord, ...] = ()  # the manifest has a later commit


def apply(
    manifest: Manifest,
    records: Sequence[ReleaseRecord],
    is_ancestor: Callable[[str, str], bool],
    default_replicas: Callable[[str], int],
) -> Applied:
    """The manifest with each record's image. Entries are written from the record
    alone (its time and publisher), so re-applying after a reset yields the same
    file; replicas and flags stay the environment's (releases.new_entry)."""
    updated, recorded, already, superseded = manifest, [], [], []
    for rec in records:
        before = manifest.services.get(rec.service)
        if before is not None and before.image == rec.image:
            already.append(rec)
            continue
        if (
            before is not None
            and before.git_sha != rec.git_sha
            and is_ancestor(rec.git_sha, before.git_sha)
        ):
            superseded.append(rec)
            continue
        entry = releases.new_entry(
            before,
            image=rec.image,
            version=rec.version,
            git_sha=rec.git_sha,
            now=published_at(rec),
            actor=rec.published_by,
            default_replicas=default_replicas(rec.service),
        )
        updated = updated.with_service(rec.service, entry)
        recorded.append(rec)
    return Applied(updated, tuple(recorded), tuple(already), tuple(superseded))


def git_is_ancestor(root: Path) -> Callable[[str, str], bool]:
    """`older` is an ancestor of `newer` in this clone; a commit the clone does not
    have proves nothing, so the record is applied."""
    return lambda older, newer: manifest_git.is_ancestor(root, older, newer)


@dataclass(frozen=True)
class RecordResult:
    env: str
    manifest: str
    applied: Applied
    commit: str | None

    def to_dict(self) -> dict:
        """`./inv record --json`: each record as its file has it (without
        "format"); a skipped one says why."""
        a = self.applied
        skipped = [(r, "already recorded") for r in a.already]
        skipped += [(r, "superseded") for r in a.superseded]
        return {
            "env": self.env,
            "manifest": self.manifest,
            "commit": self.commit,
            "recorded": [asdict(r) for r in a.recorded],
            "skipped": [{**asdict(r), "reason": why} for r, why in skipped],
        }


def record_releases(path: Path, env: str, root: Path = ROOT) -> RecordResult:
    """`./inv record`: validate every record, apply them, commit once (or not at all
    when the manifest already says it all)."""
    check_env(env)
    records = read(path, env, released_images(root))
    current = manifest_store.read(env, root)
    manifest_store.check_can_record(env, root)
    applied = apply(
        current,
        records,
        git_is_ancestor(root),
        lambda name: manifest_store.default_replicas(env, name, root),
    )
    commit = None
    if applied.recorded:
        message = releases.commit_message(env, [r.line for r in applied.recorded])
        commit = manifest_store.save(env, applied.manifest, message, root)
    rel = manifest_git.relative(root, manifest_store.manifest_path(env, root))
    return RecordResult(env, rel, applied, commit)


def render(result: RecordResult, as_json: bool = False) -> None:
    if as_json:
        console.json_result(result.to_dict())
        return
    a = result.applied
    rows = [[r.service, r.version, r.tag, short(r.digest), s] for r, s in _states(a)]
    console.table(
        f"release records for {result.env}",
        ["service", "version", "tag", "digest", "manifest"],
        rows,
    )
    if result.commit:
        console.info(f"recorded in {result.manifest}: commit {result.commit[:12]}")
    elif a.recorded:
        console.info(f"recorded in {result.manifest} (local: written, not committed)")
    else:
        console.info(f"{result.manifest} already records these: nothing to commit")


def _states(a: Applied) -> list[tuple[ReleaseRecord, str]]:
    states = [(r, "recorded") for r in a.recorded]
    states += [(r, "already recorded") for r in a.already]
    states += [(r, "superseded by a later commit") for r in a.superseded]
    return sorted(states, key=lambda rs: rs[0].service)
