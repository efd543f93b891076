"""`./inv audit`'s reading: each engine's deploy log, merged newest first with the
host it came from; what only this machine kept is shown too; an unreachable host
is named, the others still read."""

from release.engine import deploy_log
from release.engine.fake_access import FakeAccess, FakeEngine
from release.targets import audit
from release.targets.fleet.hosts import Fleet, FleetHost
from release.targets.fleet.target import FleetTarget
from release.targets.host.target import HostTarget

WEB1, WEB2 = "ssh://deploy@10.0.1.11", "ssh://deploy@10.0.1.12"
FLEET = Fleet((FleetHost("web-1", WEB1), FleetHost("web-2", WEB2)), source="h.yaml")


def entry(id_: str, host: str, result: str = "ok", **kw) -> dict:
    return {"id": id_, "host": host, "result": result, "by": "ci", **kw}


def kept(access: FakeAccess, endpoint: str, *entries: dict) -> None:
    access.engine(endpoint).logs["p"] = {e["id"]: e for e in entries}


def nothing_here(project: str) -> list[dict]:
    return []


def test_a_fleets_logs_merge_newest_first_each_naming_its_host():
    access = FakeAccess()
    kept(access, WEB1, entry("20260301T1", WEB1), entry("20260303T1", WEB1))
    kept(access, WEB2, entry("20260302T1", WEB2, "failed"))
    log = audit.read(FleetTarget(access, "prod", FLEET), "p", local=nothing_here)
    assert [(e["id"], e["log_host"], e["kept"]) for e in log.entries] == [
        ("20260303T1", "web-1", "host"),
        ("20260302T1", "web-2", "host"),
        ("20260301T1", "web-1", "host"),
    ]
    assert log.to_dict()["hosts"] == [
        {"name": "web-1", "endpoint": WEB1, "entries": 2, "error": ""},
        {"name": "web-2", "endpoint": WEB2, "entries": 1, "error": ""},
    ]
    assert not log.unreadable


def test_limit_and_service():
    access = FakeAccess()
    kept(
        access,
        "",
        entry("3", "local", releases={"auth": {"version": "2"}}),
        entry("2", "local", services=[{"service": "waste-worker"}]),
        entry("1", "local", releases={"auth": {"version": "1"}}),
    )
    target = HostTarget(access, "local")
    log = audit.read(target, "p", limit=1, local=nothing_here)
    assert [e["id"] for e in log.entries] == ["3"] and log.matching == 3
    log = audit.read(target, "p", services=["waste-worker"], local=nothing_here)
    assert [e["id"] for e in log.entries] == ["2"]
    log = audit.read(target, "p", services=["auth", "users"], local=nothing_here)
    assert [e["id"] for e in log.entries] == ["3", "1"]


def test_what_only_this_machine_kept_is_shown_for_its_host(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    access = FakeAccess()
    kept(access, WEB1, entry("2", WEB1))
    deploy_log.append("p", {**entry("2", WEB1), "kept_on_host": True})
    deploy_log.append("p", {**entry("3", WEB1, "failed"), "kept_on_host": False})
    deploy_log.append("p", {**entry("4", WEB2), "kept_on_host": False})
    log = audit.read(FleetTarget(access, "prod", FLEET), "p")
    assert [(e["id"], e["log_host"], e["kept"]) for e in log.entries] == [
        ("4", "web-2", "local"),
        ("3", "web-1", "local"),
        ("2", "web-1", "host"),
    ]
    assert all("kept_on_host" not in e for e in log.entries)


def test_an_unreachable_host_is_named_and_the_others_still_read():
    access = FakeAccess({WEB2: FakeEngine(reachable=False)})
    kept(access, WEB1, entry("1", WEB1))
    log = audit.read(FleetTarget(access, "prod", FLEET), "p", local=nothing_here)
    assert [e["id"] for e in log.entries] == ["1"]
    (bad,) = log.unreadable
    assert bad.place.name == "web-2" and "cannot reach" in bad.error
