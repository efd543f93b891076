"""Swarm's services and tasks as live state, a service's update progress, and
Swarm's own drift (a paused or rolled-back update)."""

from __future__ import annotations

import pytest

from release.model.desired import Desired
from release.model.live import LABEL_CONFIG_HASH, LABEL_VERSION
from release.targets.swarm import live as swarm_live
from release.targets.swarm.live import SwarmService, UpdateState
from release.targets.swarm.rollout import FAILED, OK, ROLLED, WAIT, progress

DIGEST = "sha256:" + "cd" * 32
IMAGE = f"127.0.0.1:5000/ecotrack/recycling:v2@{DIGEST}"


def desired(config_hash="new", replicas=2) -> Desired:
    return Desired(
        "recycling", "recycling", "http", IMAGE, "2.0.0", replicas, {}, "", config_hash
    )


def service_doc(update=None, replicas=2) -> dict:
    doc = {
        "ID": "svc1",
        "Spec": {
            "Name": "st_recycling",
            "Mode": {"Replicated": {"Replicas": replicas}},
        },
    }
    if update:
        doc["UpdateStatus"] = update
    return doc


def task_doc(slot, state="running", config="new", desired_state="running") -> dict:
    return {
        "ID": f"task{slot}xxxxxxxxxxxx",
        "ServiceID": "svc1",
        "Slot": slot,
        "DesiredState": desired_state,
        "Spec": {
            "ContainerSpec": {
                "Image": IMAGE,
                "Labels": {LABEL_VERSION: "2.0.0", LABEL_CONFIG_HASH: config},
                "Env": ["FEATURE_NEW_UI=on", "JWT_SECRET=never-read"],
            }
        },
        "Status": {"State": state, "ContainerStatus": {"ContainerID": f"c{slot}"}},
        "NetworksAttachments": [{"Addresses": [f"10.0.1.{slot}/24"]}],
    }


def test_parse_tasks_as_live_containers():
    state = swarm_live.parse(
        "st",
        [service_doc({"State": "updating", "StartedAt": "t1"})],
        [
            task_doc(1),
            task_doc(2, "starting"),
            task_doc(3, "shutdown", "old", "shutdown"),
        ],
    )
    svc = state.services["recycling"]
    assert (svc.name, svc.replicas, svc.update.state) == ("st_recycling", 2, "updating")
    c1, c2 = state.live.for_service("recycling")
    assert (c1.state, c1.health, c1.digest, c1.ip) == (
        "running",
        "healthy",
        DIGEST,
        "10.0.1.1",
    )
    assert (c2.state, c2.health) == ("running", "starting")
    assert dict(c1.flags) == {"new_ui": "on"}  # FEATURE_* only, never secrets


def svc(state=None, started="t2", message="") -> SwarmService:
    update = UpdateState(state, message, started) if state else None
    return SwarmService("recycling", "st_recycling", "svc1", 2, update)


def live(*specs):
    return [
        swarm_live.parse_task("recycling", task_doc(i + 1, s, c))
        for i, (s, c) in enumerate(specs)
    ]


@pytest.mark.parametrize(
    "service, tasks, before, status",
    [
        pytest.param(None, [], "", WAIT, id="not-created"),
        pytest.param(
            svc(),
            live(("running", "new"), ("running", "new")),
            "",
            OK,
            id="created-converged",
        ),
        pytest.param(
            svc("updating"),
            live(("running", "new"), ("running", "old")),
            "t1",
            WAIT,
            id="updating",
        ),
        pytest.param(
            svc("completed"),
            live(("running", "new"), ("running", "new")),
            "t1",
            OK,
            id="completed",
        ),
        pytest.param(
            svc("completed", "t1"),
            live(("running", "old"), ("running", "old")),
            "t1",
            WAIT,
            id="old-completed-state-is-not-ours",
        ),
        pytest.param(
            svc("rollback_completed", "t3", "rollback completed"),
            live(("running", "old"), ("running", "old")),
            "t1",
            ROLLED,
            id="rolled-back",
        ),
        pytest.param(
            svc("rollback_completed", "t1"),
            live(("running", "old"), ("running", "old")),
            "t1",
            WAIT,
            id="earlier-rollback-is-not-ours",
        ),
        pytest.param(
            svc("paused", "t3", "update paused due to failure"),
            live(("running", "new")),
            "t1",
            FAILED,
            id="paused",
        ),
        pytest.param(
            svc("completed"),
            live(("running", "new"), ("starting", "new")),
            "t1",
            WAIT,
            id="a-task-still-starting",
        ),
        pytest.param(
            svc(),
            live(("running", "new"), ("running", "new"), ("running", "new")),
            "",
            WAIT,
            id="too-many",
        ),
    ],
)
def test_progress(service, tasks, before, status):
    assert progress(desired(), service, tasks, before).status == status


def test_update_findings():
    state = swarm_live.parse(
        "st",
        [
            service_doc(
                {
                    "State": "rollback_completed",
                    "StartedAt": "t3",
                    "Message": "rollback completed",
                }
            )
        ],
        [task_doc(1, config="old"), task_doc(2, config="old")],
    )
    wants_new = {"recycling": desired("new")}
    found = swarm_live.update_findings(state.services, wants_new, state.live)
    assert [(f.service, f.kind, f.actual) for f in found] == [
        ("recycling", "update", "rollback_completed: rollback completed")
    ]
    # once the manifest names what runs again, the old rollback is history
    wants_old = {"recycling": desired("old")}
    assert swarm_live.update_findings(state.services, wants_old, state.live) == []
