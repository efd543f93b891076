"""Drift detection over paired desired/live fixtures: one case per kind, and more."""

from __future__ import annotations

from dataclasses import replace

import pytest

from release.model.desired import Desired, Unit
from release.model.live import LiveContainer, LiveState
from release.plan.plan import IN_SYNC, OUT_OF_SYNC
from release.verify import drift

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
REPO = "127.0.0.1:5000/ecotrack/waste"
CFG = "c" * 64
SECRETS = "5" * 16


def want(**kw) -> Desired:
    base = dict(
        service="waste",
        entry="waste",
        role="http",
        image=f"{REPO}:main-1@{A}",
        version="1.3.0",
        replicas=2,
        flags={"new_model": "on"},
        secrets_hash="",
        config_hash=CFG,
    )
    return Desired(**{**base, **kw})


def box(n: int, **kw) -> LiveContainer:
    base = dict(
        id=f"{n:02d}" * 32,
        name=f"p-waste-{n}",
        service="waste",
        number=n,
        state="running",
        health="healthy",
        image=f"{REPO}:main-1@{A}",
        digest=A,
        version="1.3.0",
        config_hash=CFG,
        flags={"new_model": "on"},
    )
    return LiveContainer(**{**base, **kw})


def stray(**kw) -> LiveContainer:
    return box(9, service="", name="hand-made", version="", config_hash="", **kw)


def detect(desired, containers, foreign=(), units=()):
    return drift.detect(
        "local",
        "p",
        {d.service: d for d in desired},
        LiveState("p", tuple(containers)),
        foreign,
        units,
    )


def kinds(report):
    return [(f.service, f.kind, f.container) for f in report.findings]


CASES = [
    pytest.param([want()], [box(1), box(2)], (), [], id="in-sync"),
    pytest.param(
        [want()],
        [box(1), box(2, digest=B, image=f"{REPO}:main-0@{B}", version="1.2.0")],
        (),
        [("waste", drift.IMAGE, "p-waste-2")],
        id="wrong-image-digest",
    ),
    pytest.param(
        [want()],
        [box(1)],
        (),
        [("waste", drift.MISSING, "")],
        id="missing-replica",
    ),
    pytest.param(
        [want()],
        [box(1), box(2), box(3)],
        (),
        [("waste", drift.EXTRA, "")],
        id="extra-replica",
    ),
    pytest.param(
        [want(replicas=0)],
        [box(1)],
        (),
        [("waste", drift.EXTRA, "")],
        id="removed-from-manifest-but-running",
    ),
    pytest.param(
        [want()],
        [box(1), box(2)],
        (stray(),),
        [("waste", drift.UNMANAGED, "hand-made")],
        id="unmanaged-by-digest",
    ),
    pytest.param(
        [want()],
        [box(1), box(2)],
        (stray(digest="", image=f"{REPO}:hand-built"),),
        [("waste", drift.UNMANAGED, "hand-made")],
        id="unmanaged-by-repository",
    ),
    pytest.param(
        [want()],
        [box(1), box(2)],
        (stray(state="exited"),),
        [],
        id="stopped-stray-is-harmless",
    ),
    pytest.param(
        [want()],
        [box(1), box(2, config_hash="d" * 64)],
        (),
        [("waste", drift.CONFIG, "p-waste-2")],
        id="changed-config",
    ),
    pytest.param(
        [want()],
        [box(1, config_hash=""), box(2)],
        (),
        [("waste", drift.CONFIG, "p-waste-1")],
        id="unlabelled-config",
    ),
    pytest.param(
        [want()],
        [box(1), box(2, flags={"new_model": "off"})],
        (),
        [("waste", drift.FLAGS, "p-waste-2")],
        id="changed-flags",
    ),
    pytest.param(
        [want(secrets_hash=SECRETS)],
        [box(1, secrets_hash=SECRETS), box(2, secrets_hash="6" * 16)],
        (),
        [("waste", drift.ENVIRONMENT, "p-waste-2")],
        id="changed-environment",
    ),
    pytest.param(
        [want()],
        [box(1), box(2, state="exited", exit_code=137)],
        (),
        [("waste", drift.MISSING, ""), ("waste", drift.STOPPED, "p-waste-2")],
        id="stopped-container",
    ),
    pytest.param(
        [want()],
        [box(1), box(2, health="unhealthy")],
        (),
        [("waste", drift.UNHEALTHY, "p-waste-2")],
        id="unhealthy-container",
    ),
    pytest.param(
        [want()],
        [box(1), box(2, health="starting")],
        (),
        [],
        id="starting-is-not-drift",
    ),
    pytest.param(
        [want()],
        [box(1), box(2, digest=B, flags={}, config_hash="d" * 64)],
        (),
        [("waste", drift.IMAGE, "p-waste-2"), ("waste", drift.FLAGS, "p-waste-2")],
        id="image-and-flags-hide-config",
    ),
]


@pytest.mark.parametrize("desired, containers, foreign, expected", CASES)
def test_detect(desired, containers, foreign, expected):
    report = detect(desired, containers, foreign)
    assert kinds(report) == expected
    assert report.in_sync == (not expected)
    assert report.exit_code == (3 if expected else 0)
    status = report.services[0]
    assert status.sync == (OUT_OF_SYNC if expected else IN_SYNC)
    assert list(status.kinds) == list(dict.fromkeys(k for _, k, _ in expected))


def test_every_kind_has_a_case():
    ids = " ".join(c.id for c in CASES)
    covered = {k for c in CASES for (_, k, _) in c.values[3]}
    assert covered == set(drift.KINDS), ids


def test_health_is_separate_from_sync():
    report = detect([want()], [box(1), box(2, health="unhealthy")])
    assert report.services[0].health == "DEGRADED"
    report = detect([want()], [])
    s = report.services[0]
    assert (s.sync, s.health, s.replicas, s.desired_replicas) == (
        OUT_OF_SYNC,
        "MISSING",
        0,
        2,
    )
    report = detect([want()], [box(1), box(2, health="starting")])
    assert (report.services[0].sync, report.services[0].health) == (
        IN_SYNC,
        "PROGRESSING",
    )


def test_services_outside_the_manifest_are_unknown():
    units = (
        Unit("proxy", "proxy", "proxy", 1, False, 10.0),
        Unit("waste", "waste", "http", 2, False, 15.0),
    )
    proxy = box(5, service="proxy", name="p-proxy-1", digest="", version="")
    report = detect([want()], [box(1), box(2), proxy], units=units)
    assert [(s.service, s.sync, s.health) for s in report.services] == [
        ("proxy", drift.UNKNOWN, "HEALTHY"),
        ("waste", IN_SYNC, "HEALTHY"),
    ]
    assert report.in_sync


def test_a_stray_is_attributed_to_the_api_not_its_worker():
    worker = want(service="waste-worker", role="worker", replicas=1)
    report = detect(
        [want(), worker],
        [box(1), box(2), box(3, service="waste-worker", name="p-waste-worker-1")],
        (stray(),),
    )
    assert kinds(report) == [("waste", drift.UNMANAGED, "hand-made")]


def test_findings_describe_themselves_and_fingerprint_is_stable():
    report = detect([want()], [box(1), box(2, flags={})])
    (f,) = report.findings
    assert f.describe() == (
        "waste (p-waste-2): flags: expected new_model=on, found (none)"
    )
    again = detect([want()], [box(1), box(2, flags={})])
    assert report.fingerprint() == again.fingerprint()
    assert report.fingerprint() != detect([want()], [box(1)]).fingerprint()
    assert report.to_dict()["findings"][0]["kind"] == "flags"


def test_repairable_leaves_unmanaged_containers_alone():
    report = detect([want()], [box(1)], (stray(),))
    assert {f.kind for f in report.findings} == {drift.MISSING, drift.UNMANAGED}
    assert drift.repairable(report) == ["waste"]
    only_stray = detect([want()], [box(1), box(2)], (stray(),))
    assert drift.repairable(only_stray) == []


@pytest.mark.parametrize(
    "ref, repo",
    [
        ("127.0.0.1:5000/ecotrack/waste:main-1@" + A, "127.0.0.1:5000/ecotrack/waste"),
        ("ecotrack/waste:dev", "ecotrack/waste"),
        ("localhost:5000/ecotrack/waste", "localhost:5000/ecotrack/waste"),
        ("registry.example.com/team/waste@" + A, "registry.example.com/team/waste"),
    ],
)
def test_repository(ref, repo):
    assert drift.repository(ref) == repo


@pytest.mark.parametrize(
    "container, on_network, ours",
    [
        pytest.param(stray(), False, True, id="manifest-digest"),
        pytest.param(stray(digest="", image=f"{REPO}:x"), False, True, id="same-repo"),
        pytest.param(
            stray(digest=B, image="ecotrack/waste:dev"), False, False, id="other-build"
        ),
        pytest.param(
            stray(digest=B, image="busybox:latest"), True, True, id="on-our-network"
        ),
    ],
)
def test_looks_ours(container, on_network, ours):
    assert drift.looks_ours(container, on_network, {"waste": want()}) is ours


def test_desired_is_not_mutated():
    d = want()
    detect([d], [box(1, flags={})])
    assert d == replace(d)
