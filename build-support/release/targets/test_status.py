"""`./inv status`'s answer from one look: per host and service the version, digest,
ready replicas and drift (verify/drift.py's), per host the lock and the last deploy;
exit 0 in sync and ready, 3 drifted or not ready, 5 nothing of the project runs."""

import pytest

from release.base import exit_codes
from release.engine.fake_access import FakeAccess, FakeLock
from release.model.desired import Desired
from release.model.live import LiveContainer, LiveState
from release.model.manifest import Manifest
from release.targets import status
from release.targets.fleet.hosts import Fleet, FleetHost
from release.targets.fleet.observe import FleetObservation
from release.targets.fleet.target import FleetTarget
from release.targets.host.observe import Observation
from release.targets.host.target import HostTarget
from release.verify import drift

DIGEST = "sha256:" + "cd" * 32
OTHER = "sha256:" + "ef" * 32
IMAGE = f"127.0.0.1:5000/ecotrack/auth:v1@{DIGEST}"
WANTS = {"auth": Desired("auth", "auth", "http", IMAGE, "1.0.0", 2, {}, "", "h1")}


@pytest.fixture(autouse=True)
def _own_state_dir(tmp_path, monkeypatch):
    """This machine's copy of the log (read for entries a host never took)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))


def container(n: int, health="healthy", digest=DIGEST, state="running"):
    return LiveContainer(
        id=f"c{n}" * 8,
        name=f"p-auth-{n}",
        service="auth",
        number=n,
        state=state,
        health=health,
        image=IMAGE,
        digest=digest,
        version="1.0.0",
        config_hash="h1",
    )


def observation(*containers: LiveContainer) -> Observation:
    live = LiveState("p", tuple(containers))
    report = drift.detect("local", "p", WANTS, live)
    return Observation(report, Manifest("local", {}), WANTS, (), live, ())


class Looked:
    """A target's observe() answering what the test looked at, through the Look's
    clients as the real ones do (so status reads locks and logs the same way)."""

    def __init__(self, looked, endpoints):
        self.looked, self.endpoints = looked, endpoints

    def observe(self, look):
        for e in self.endpoints:
            look.client(e)
        return self.looked


class LookedHost(Looked, HostTarget):
    def __init__(self, access, looked):
        HostTarget.__init__(self, access, "local")
        Looked.__init__(self, looked, [""])


class LookedFleet(Looked, FleetTarget):
    def __init__(self, access, fleet, looked):
        FleetTarget.__init__(self, access, "prod", fleet)
        Looked.__init__(self, looked, [h.endpoint for h in fleet.hosts])


def test_in_sync_and_ready_with_the_lock_free_and_the_last_deploy():
    access = FakeAccess()
    access.engine("").logs["p"] = {
        "1": {"id": "1", "at": "t1", "by": "ci", "result": "ok", "commit": "abc"},
        "2": {"id": "2", "at": "t2", "by": "me", "result": "failed", "commit": ""},
    }
    target = LookedHost(access, observation(container(1), container(2)))
    report = status.status(target)
    assert report.exit_code == exit_codes.OK
    doc = report.to_dict()
    (host,) = doc["hosts"]
    assert (host["name"], host["lock"], host["in_sync"]) == ("local", None, True)
    assert host["last_deploy"]["result"] == "failed"  # the newest, whatever it did
    (auth,) = host["services"]
    assert (auth["ready"], auth["desired"], auth["digest"]) == (2, 2, DIGEST)
    assert (auth["version"], auth["sync"], auth["findings"]) == ("1.0.0", "IN_SYNC", 0)


def test_a_replica_still_starting_is_not_ready():
    target = LookedHost(
        FakeAccess(), observation(container(1), container(2, "starting"))
    )
    report = status.status(target)
    (row,) = report.hosts[0].services
    assert (row.ready, row.running, row.desired) == (1, 2, 2)
    assert report.in_sync and not report.ready
    assert report.exit_code == exit_codes.DIFFERS


def test_drift_is_counted_and_a_held_lock_shown_not_failed():
    access = FakeAccess()
    access.engine("").locks["p"] = FakeLock("ci (GitHub Actions run 7)")
    looked = observation(container(1), container(2, digest=OTHER))
    report = status.status(LookedHost(access, looked))
    host = report.hosts[0]
    assert (host.findings, host.services[0].kinds) == (1, (drift.IMAGE,))
    assert host.lock["holder"] == "ci (GitHub Actions run 7)"
    assert "held by ci" in host.lock["description"]
    assert report.exit_code == exit_codes.DIFFERS


def test_nothing_of_the_project_running_is_exit_5():
    report = status.status(LookedHost(FakeAccess(), observation()))
    assert not report.deployed
    assert report.exit_code == exit_codes.NOT_RUNNING


def test_a_fleet_reports_each_host():
    fleet = Fleet(
        (FleetHost("web-1", "unix:///w1.sock"), FleetHost("web-2", "unix:///w2.sock"))
    )
    access = FakeAccess()
    access.engine("unix:///w2.sock").logs["p"] = {
        "9": {"id": "9", "at": "t", "by": "ci", "result": "refused"}
    }
    per_host = (
        (fleet.hosts[0], observation(container(1), container(2))),
        (fleet.hosts[1], observation(container(1))),
    )
    looked = FleetObservation(per_host[0][1].report, per_host)
    report = status.status(LookedFleet(access, fleet, looked))
    assert [(h.place.name, h.in_sync) for h in report.hosts] == [
        ("web-1", True),
        ("web-2", False),
    ]
    assert report.hosts[0].last_deploy is None
    assert report.hosts[1].last_deploy["result"] == "refused"
    assert report.exit_code == exit_codes.DIFFERS
