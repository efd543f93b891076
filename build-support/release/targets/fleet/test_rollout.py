"""The fleet's order and failure mode, without Docker: sessions and apply faked."""

from __future__ import annotations

import pytest

from release.base.layout import GITOPS
from release.engine.results import Outcome
from release.plan.plan import Plan
from release.targets.fleet import hosts as fleet
from release.targets.fleet import rollout as fleet_rollout

FLEET = fleet.parse(
    {
        "hosts": [
            {"name": f"h{i}", "endpoint": f"unix:///h{i}.sock"} for i in range(1, 6)
        ],
        "batch_size": 2,
    }
)


class FakeSession:
    """A DeploySession's surface as the fleet uses it; `roll` stands for the
    engine's rollout on that host (failing where the test says)."""

    def __init__(self, endpoint, locked, log, failing):
        self.endpoint, self.locked, self.events = endpoint, locked, log
        self.failing = failing
        self.plan = Plan("prod", "p", ())
        self.manifest = object()
        self.started_at = "t"
        self.fence = ("fence of", endpoint) if locked else None

    def __enter__(self):
        self.events.append(("open", self.endpoint, self.locked))
        return self

    def __exit__(self, *exc):
        self.events.append(("close", self.endpoint))

    def roll(self, result, health_timeout, drain_timeout, lanes, **log_fields):
        self.events.append(("apply", self.endpoint))
        bad = self.endpoint in self.failing
        result.outcomes = [
            Outcome("web", "roll", "1", "2", 1.0, "failed" if bad else "ok", "x")
        ]
        self.events.append(("log", self.endpoint, "ok" if result.ok else "failed"))


fake_sessions: list = []  # the sessions the last test opened


@pytest.fixture
def fake(monkeypatch):
    events: list = []
    failing: set[str] = set()

    def session(access, env, project, host, manifest, services, reporter, locked, *r):
        made = FakeSession(host.endpoint, locked, events, failing)
        sessions.append(made)
        return made

    sessions: list[FakeSession] = []
    monkeypatch.setattr(fleet_rollout, "_session", session)
    fake_sessions.clear()
    fake_sessions.append(sessions)
    return events, failing


def test_every_host_in_batches_one_lock(fake):
    events, _ = fake
    result = fleet_rollout.deploy_fleet(None, "prod", FLEET, gitops=GITOPS)
    assert result.ok and result.exit_code == 0
    applied = [e[1] for e in events if e[0] == "apply"]
    assert applied == [h.endpoint for h in FLEET.hosts]
    opened = [(e[1], e[2]) for e in events if e[0] == "open"]
    assert opened[0] == ("unix:///h1.sock", True)  # the environment's one lock
    assert all(not locked for _, locked in opened[1:])
    # every host's engine checks the one lock's token (the first host's)
    sessions = fake_sessions[0]
    assert len(sessions) > 1
    assert {s.fence for s in sessions} == {("fence of", "unix:///h1.sock")}
    # the lock holder's session closes last, after every other host
    assert events[-1] == ("close", "unix:///h1.sock")


def test_first_failed_host_stops_the_fleet(fake):
    events, failing = fake
    failing.add("unix:///h3.sock")
    with pytest.raises(fleet_rollout.FleetDeployFailed) as err:
        fleet_rollout.deploy_fleet(None, "prod", FLEET, gitops=GITOPS)
    message = str(err.value)
    assert message.startswith("host h3: web: x")
    assert "later hosts untouched: h5" in message
    result = err.value.result
    assert result.failed_host == "h3" and result.exit_code == 1
    # h4 is in h3's batch (it ran beside it); h5 was never opened
    assert [h.name for h in result.untouched] == ["h5"]
    assert "unix:///h5.sock" not in {e[1] for e in events}
    assert ("log", "unix:///h3.sock", "failed") in events


def test_dry_run_plans_every_host_without_the_lock(fake):
    events, _ = fake
    result = fleet_rollout.deploy_fleet(
        None, "prod", FLEET, dry_run=True, gitops=GITOPS
    )
    assert not [e for e in events if e[0] == "apply"]
    assert all(not e[2] for e in events if e[0] == "open")
    assert len(result.hosts) == 5 and result.exit_code == 0
    assert [h["name"] for h in result.to_dict()["hosts"]] == [
        h.name for h in FLEET.hosts
    ]
