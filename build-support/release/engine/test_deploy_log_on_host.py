"""The deploy log kept on the host: an entry goes to the host and to this machine's
copy; a host that cannot take it costs one line, never the entry."""

import datetime as dt
from pathlib import Path

from release.engine import deploy_log
from release.engine.fake_access import FakeAccess, FakeEngine
from release.model.manifest import Manifest, ServiceEntry, dumps

DIGEST = "sha256:" + "ab" * 32
WHEN = dt.datetime(2026, 3, 1, 12, 0, 5, 123456, tzinfo=dt.timezone.utc)


def manifest(version: str = "1.1.0") -> Manifest:
    entry = ServiceEntry(
        image=f"127.0.0.1:5000/ecotrack/auth:v{version}@{DIGEST}",
        version=version,
        git_sha="0123456",
        deployed_at="2026-03-01T11:00:00Z",
        deployed_by="tester",
        replicas=2,
    )
    return Manifest("staging", {"auth": entry})


def test_an_entry_is_kept_on_the_host_and_here(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    access, notes = FakeAccess(), []
    kept = deploy_log.record(
        access, "ssh://deploy@web-1", "p", {"result": "ok"}, notes.append, lambda: WHEN
    )
    assert kept["id"].startswith("20260301T120005.123456Z-")
    assert (kept["schema"], kept["finished_at"]) == (1, "2026-03-01T12:00:05+00:00")
    on_host = access.engine("ssh://deploy@web-1").logs["p"]
    assert on_host == {kept["id"]: kept}
    assert deploy_log.read("p") == [{**kept, "kept_on_host": True}]
    assert notes == []


def test_a_host_that_cannot_take_it_costs_one_line_not_the_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    access = FakeAccess({"": FakeEngine(writable=False)})
    notes: list[str] = []
    kept = deploy_log.record(access, "", "p", {"result": "failed"}, notes.append)
    assert len(notes) == 1 and "\n" not in notes[0]
    assert "disk full" in notes[0] and str(deploy_log.log_path("p")) in notes[0]
    assert deploy_log.read("p") == [{**kept, "kept_on_host": False}]


def test_ids_sort_as_written_and_newest_come_first():
    earlier = deploy_log.entry_id(WHEN, 99999)
    later = deploy_log.entry_id(WHEN + dt.timedelta(microseconds=1), 1)
    assert earlier < later
    entries = [{"id": earlier}, {"id": later}]
    assert deploy_log.newest_first(entries) == [{"id": later}, {"id": earlier}]


def test_what_an_attempt_was_to_deploy():
    assert deploy_log.releases(manifest(), ["auth", "waste"]) == {
        "auth": {"version": "1.1.0", "digest": DIGEST}
    }
    assert deploy_log.releases(None, ["auth"]) == {}


def test_the_manifests_commit_and_whether_it_holds_what_was_deployed():
    path = Path("gitops/versions/staging.json")
    committed = FakeAccess(revision=("c0ffee", dumps(manifest())))
    assert deploy_log.provenance(committed, path, manifest()) == {
        "commit": "c0ffee",
        "manifest_committed": True,
    }
    # an uncommitted edit: the commit is named, the manifest is not what it holds
    assert deploy_log.provenance(committed, path, manifest("1.2.0")) == {
        "commit": "c0ffee",
        "manifest_committed": False,
    }
    ignored = FakeAccess(revision=("c0ffee", None))  # local.json, git-ignored
    assert not deploy_log.provenance(ignored, path, manifest())["manifest_committed"]
    broken = FakeAccess(revision=("c0ffee", "{not json"))
    assert not deploy_log.provenance(broken, path, manifest())["manifest_committed"]
    outside_git = FakeAccess()
    assert deploy_log.provenance(outside_git, path, manifest())["commit"] == ""
