import json
import subprocess
from dataclasses import replace

import pytest

from release.base.errors import ReleaseError
from release.gitops import store as manifest_store
from release.gitops.records import (
    FORMAT,
    RecordError,
    ReleaseRecord,
    apply,
    parse,
    read,
    record_releases,
    write,
)
from release.model.manifest import Manifest, ServiceEntry

KNOWN = ["auth", "waste", "proxy"]
SHA = "a" * 40
DIGEST = "sha256:" + "1" * 64


def release(service="waste", digest=DIGEST, sha=SHA, env="staging") -> ReleaseRecord:
    tag = f"main-{sha[:7]}"
    return ReleaseRecord(
        env=env,
        service=service,
        version="1.3.0",
        tag=tag,
        image=f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/ecotrack/{service}"
        f":{tag}@{digest}",
        digest=digest,
        git_sha=sha,
        published_at="2026-11-28T22:00:00Z",
        published_by="octocat (ci)",
    )


def entry(image: str, sha: str = "b" * 40) -> ServiceEntry:
    return ServiceEntry(
        image=image,
        version="1.2.0",
        git_sha=sha,
        deployed_at="2026-11-01T10:00:00Z",
        deployed_by="someone",
        replicas=3,
        feature_flags={"beta": "on"},
    )


def never_ancestor(older: str, newer: str) -> bool:
    return False


# -- parsing -------------------------------------------------------------------------


def test_a_record_survives_the_round_trip():
    rec = release()
    assert rec.to_dict()["format"] == FORMAT
    assert parse(json.loads(json.dumps(rec.to_dict())), "x.json") == rec


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.update(format="v0"), "format is 'v0'"),
        (lambda d: d.pop("digest"), "missing digest"),
        (lambda d: d.update(extra="1"), "unknown extra"),
        (lambda d: d.update(version=3), "version must be a non-empty string"),
        (lambda d: d.update(digest="sha256:" + "2" * 64), "does not match tag"),
        (lambda d: d.update(image="nope"), "is not of the form"),
        (lambda d: d.update(service="auth"), "is not of auth"),
        (lambda d: d.update(git_sha="main"), "git_sha 'main' is not a commit id"),
        (lambda d: d.update(published_at="yesterday"), "is not a UTC time"),
    ],
)
def test_a_bad_record_is_named_with_its_file_and_field(edit, message):
    data = release().to_dict()
    edit(data)
    with pytest.raises(RecordError, match=message) as exc:
        parse(data, "records/waste.json")
    assert str(exc.value).startswith("records/waste.json: ")
    assert "\n" not in str(exc.value)


def test_written_records_are_read_back_in_service_order(tmp_path):
    write([release("waste"), release("auth")], tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "auth.json",
        "waste.json",
    ]
    got = read(tmp_path / "out", "staging", KNOWN)
    assert [r.service for r in got] == ["auth", "waste"]


def test_records_in_artifact_folders_are_found(tmp_path):
    write([release("waste")], tmp_path / "release-staging-waste")
    write([release("waste")], tmp_path / "copy")  # identical copies are one
    assert read(tmp_path, "staging", KNOWN) == [release("waste")]


@pytest.mark.parametrize(
    "records, message",
    [
        ([release(env="prod")], "a release to prod, not to staging"),
        ([release("billing")], "unknown service 'billing'"),
    ],
)
def test_records_for_elsewhere_are_refused(tmp_path, records, message):
    for i, rec in enumerate(records):
        write([rec], tmp_path / str(i))
    with pytest.raises(RecordError, match=message):
        read(tmp_path, "staging", KNOWN)


def test_two_images_of_one_service_are_refused(tmp_path):
    write([release("waste")], tmp_path / "a")
    write([release("waste", digest="sha256:" + "2" * 64)], tmp_path / "b")
    with pytest.raises(RecordError, match="a second release of waste"):
        read(tmp_path, "staging", KNOWN)


def test_nothing_to_read_is_an_error(tmp_path):
    with pytest.raises(RecordError, match="no release records"):
        read(tmp_path, "staging", KNOWN)
    with pytest.raises(RecordError, match="no such file or directory"):
        read(tmp_path / "missing", "staging", KNOWN)
    (tmp_path / "waste.json").write_text("{not json")
    with pytest.raises(RecordError, match="waste.json: not valid JSON"):
        read(tmp_path, "staging", KNOWN)


# -- applying ------------------------------------------------------------------------


def test_a_new_service_gets_the_default_replicas_and_the_records_facts():
    applied = apply(Manifest("staging", {}), [release()], never_ancestor, lambda n: 2)
    got = applied.manifest.services["waste"]
    assert (got.image, got.version, got.git_sha) == (release().image, "1.3.0", SHA)
    assert (got.deployed_at, got.deployed_by) == (
        "2026-11-28T22:00:00Z",
        "octocat (ci)",
    )
    assert (got.replicas, got.feature_flags) == (2, {})
    assert applied.recorded == (release(),)


def test_an_existing_entry_keeps_its_replicas_and_flags():
    manifest = Manifest("staging", {"waste": entry("r/ecotrack/waste:t@" + DIGEST)})
    got = apply(manifest, [release()], never_ancestor, lambda n: 1).manifest
    assert got.services["waste"].image == release().image
    assert (got.services["waste"].replicas, got.services["waste"].feature_flags) == (
        3,
        {"beta": "on"},
    )


def test_an_image_already_recorded_changes_nothing():
    manifest = Manifest("staging", {"waste": entry(release().image)})
    applied = apply(manifest, [release()], never_ancestor, lambda n: 1)
    assert applied.manifest == manifest
    assert (applied.recorded, applied.already) == ((), (release(),))


def test_a_record_older_than_the_entry_is_superseded():
    newer = "c" * 40
    manifest = Manifest("staging", {"waste": entry("r/ecotrack/waste:t@x", newer)})
    asked = []

    def is_ancestor(older, later):
        asked.append((older, later))
        return True

    applied = apply(manifest, [release()], is_ancestor, lambda n: 1)
    assert applied.manifest == manifest
    assert applied.superseded == (release(),)
    assert asked == [(SHA, newer)]


def test_a_rebuild_of_the_same_commit_is_recorded():
    manifest = Manifest("staging", {"waste": entry("r/ecotrack/waste:t@x", SHA)})
    applied = apply(manifest, [release()], lambda a, b: True, lambda n: 1)
    assert applied.recorded == (release(),)


# -- ./inv record on a scratch repository --------------------------------------------


def git(root, *args) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    for name in ("auth", "waste"):
        (root / "services" / name).mkdir(parents=True)
        (root / "services" / name / "BUILD").write_text(
            f'ecotrack_service(service="{name}", entry_point="x")\n'
        )
    (root / "gitops" / "versions").mkdir(parents=True)
    (root / "gitops" / "versions" / "staging.json").write_text(
        '{"environment": "staging", "services": {}}\n'
    )
    git(tmp_path, "init", "-q", "-b", "main", str(root))
    git(root, "config", "user.name", "t")
    git(root, "config", "user.email", "t@example.invalid")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    return root


def commits(root) -> int:
    return int(git(root, "rev-list", "--count", "HEAD"))


def test_records_become_one_commit_and_reapplying_adds_none(repo, tmp_path):
    head = git(repo, "rev-parse", "HEAD")
    out = tmp_path / "records"
    write([release("waste", sha=head), release("auth", sha=head)], out)
    result = record_releases(out, "staging", repo)
    assert result.commit == git(repo, "rev-parse", "HEAD")
    assert commits(repo) == 2
    shown = git(repo, "show", "--name-only", "--format=%s", "HEAD").split("\n\n")
    assert shown == [
        f"release(staging): auth 1.3.0 main-{head[:7]}, "
        f"waste 1.3.0 main-{head[:7]}",
        "gitops/versions/staging.json",
    ]
    manifest = manifest_store.read("staging", repo)
    assert manifest.services["waste"].image_ref.digest == DIGEST

    again = record_releases(out, "staging", repo)
    assert (again.commit, len(again.applied.already)) == (None, 2)
    assert commits(repo) == 2


def test_a_bad_record_writes_nothing(repo, tmp_path):
    out = tmp_path / "records"
    write([release("waste")], out)
    (out / "auth.json").write_text(json.dumps({**release("auth").to_dict(), "x": 1}))
    before = (repo / "gitops/versions/staging.json").read_bytes()
    with pytest.raises(ReleaseError, match="auth.json: unknown x"):
        record_releases(out, "staging", repo)
    assert (repo / "gitops/versions/staging.json").read_bytes() == before
    assert commits(repo) == 1


def test_an_old_record_does_not_undo_a_newer_release(repo, tmp_path):
    old = git(repo, "rev-parse", "HEAD")
    git(repo, "commit", "-q", "--allow-empty", "-m", "later")
    new = git(repo, "rev-parse", "HEAD")
    newer = replace(release("waste", sha=new), digest="sha256:" + "2" * 64)
    newer = replace(newer, image=newer.image.replace(DIGEST, newer.digest))
    write([newer], tmp_path / "new")
    write([release("waste", sha=old)], tmp_path / "old")
    record_releases(tmp_path / "new", "staging", repo)
    result = record_releases(tmp_path / "old", "staging", repo)
    assert result.commit is None
    assert result.applied.superseded == (release("waste", sha=old),)
    assert manifest_store.read("staging", repo).services["waste"].image == newer.image


# -- ./inv publish --release-out -----------------------------------------------------


class FakeRegistry:
    kind, address = "local", "127.0.0.1:5000"

    def ensure_running(self) -> None: ...

    def login(self) -> None: ...

    def digest_of(self, repository: str, tag: str) -> None:
        return None

    def push(self, local_ref: str, repository: str, tag: str) -> str:
        return DIGEST


def test_publish_with_release_out_writes_records_and_leaves_git_alone(repo, tmp_path):
    from datetime import datetime, timezone

    from release.publish.pipeline import PublishRequest, Tools, publish

    (repo / "services/waste/waste_service").mkdir()
    (repo / "services/waste/waste_service/version.py").write_text('VERSION = "2.0"\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "version")
    head, manifest = (
        git(repo, "rev-parse", "HEAD"),
        repo / "gitops/versions/staging.json",
    )
    before = manifest.read_bytes()
    tools = Tools(
        registry=FakeRegistry(),
        build=lambda selected, info: {s.name: f"local/{s.name}" for s in selected},
        affected=lambda since, root: [],
        now=lambda: datetime(2026, 11, 28, 22, 0, tzinfo=timezone.utc),
    )
    request = PublishRequest(
        env="staging", services=("waste",), release_out=tmp_path / "out"
    )
    result = publish(request, root=repo, tools=tools)

    assert (result.commit, manifest.read_bytes()) == (None, before)
    assert git(repo, "rev-parse", "HEAD") == head
    assert result.records == (str(tmp_path / "out" / "waste.json"),)
    (rec,) = read(tmp_path / "out", "staging", KNOWN)
    assert (rec.service, rec.version, rec.digest, rec.git_sha) == (
        "waste",
        "2.0",
        DIGEST,
        head,
    )
    assert rec.image == f"127.0.0.1:5000/ecotrack/waste:{rec.tag}@{DIGEST}"
    assert rec.published_at == "2026-11-28T22:00:00Z"
