"""The plan, table-tested without Docker: paired desired/live fixtures."""

import pytest

from release.model.desired import (
    ROLE_HTTP,
    ROLE_PROXY,
    ROLE_WORKER,
    Desired,
    Unit,
    compose_override,
    config_hash,
    desired_units,
    flag_env,
    parse_duration,
    secrets_hash,
    units_from_compose,
)
from release.model.live import LiveContainer, LiveState
from release.model.manifest import Manifest, ServiceEntry
from release.plan.plan import (
    classify,
    make_plan,
    plan_service,
    select,
    split_current,
    summary,
)

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
WASTE = Unit("waste", "waste", ROLE_HTTP, 2, False, 15.0)
WORKER = Unit("waste-worker", "waste", ROLE_WORKER, 1, False, 30.0)
AUTH = Unit("auth", "auth", ROLE_HTTP, 2, True, 15.0)
PROXY = Unit("proxy", "proxy", ROLE_PROXY, 1, False, 10.0)


def desired(service="waste", digest=D2, version="1.1.0", replicas=2, flags=None, **kw):
    return Desired(
        service=service,
        entry=kw.pop("entry", service),
        role=kw.pop("role", ROLE_HTTP),
        image=f"127.0.0.1:5000/ecotrack/{service}:t@{digest}",
        version=version,
        replicas=replicas,
        flags=flags or {},
        secrets_hash=kw.pop("secrets_hash", ""),
        config_hash=kw.pop("config_hash", "new"),
    )


_n = iter(range(1, 1000))


def container(
    service="waste",
    config_hash="old",
    digest=D1,
    version="1.0.0",
    state="running",
    health="healthy",
    flags=None,
    secrets_hash="",
    answers=None,
):
    n = next(_n)
    return LiveContainer(
        id=f"{n:064x}",
        name=f"p-{service}-{n}",
        service=service,
        number=n,
        state=state,
        health=health,
        image=f"r/{service}:t@{digest}",
        digest=digest,
        version=version,
        config_hash=config_hash,
        secrets_hash=secrets_hash,
        flags=flags or {},
        ip=f"172.20.0.{n % 250}",
        created=f"2026-01-01T00:00:{n % 60:02d}Z",
        answers=answers,
    )


def new(**kw):
    return container(config_hash="new", digest=D2, version="1.1.0", **kw)


@pytest.mark.parametrize(
    "want, live, action, reasons",
    [
        pytest.param(desired(), [], "create", [], id="nothing-live-creates"),
        pytest.param(desired(), [new(), new()], "none", [], id="in-sync"),
        pytest.param(
            desired(),
            [container(), container()],
            "roll",
            ["image", "version"],
            id="new-image",
        ),
        pytest.param(
            desired(digest=D1, version="1.0.0", flags={"new_model": "on"}),
            [container(), container()],
            "roll",
            ["flags"],
            id="flags-only",
        ),
        pytest.param(
            desired(digest=D1, version="1.0.0"),
            [container(), container()],
            "roll",
            ["config"],
            id="compose-config-only",
        ),
        pytest.param(
            desired(replicas=3),
            [new(), new()],
            "scale",
            ["replicas 2 → 3"],
            id="scale-up",
        ),
        pytest.param(
            desired(replicas=1),
            [new(), new()],
            "scale",
            ["replicas 2 → 1"],
            id="scale-down",
        ),
        pytest.param(desired(replicas=0), [new(), new()], "remove", [], id="remove"),
        pytest.param(desired(replicas=0), [], "none", [], id="removed-already"),
        pytest.param(
            desired(),
            [new(), new(), container(state="exited")],
            "scale",
            ["1 stopped container(s) to remove"],
            id="leftover-from-a-killed-deploy",
        ),
        pytest.param(
            desired(),
            [container(), container(), new(), new()],
            "roll",
            ["image", "version", "replicas 4 → 2"],
            id="killed-after-start-new",
        ),
        pytest.param(
            desired(),
            [new(), new(health="unhealthy", answers=False)],
            "roll",
            ["1 unhealthy, not answering"],
            id="broken-replica-of-desired-config",
        ),
        pytest.param(
            desired(),
            [new(), new(health="unhealthy", answers=True)],
            "none",
            ["1 unhealthy but answering: kept (degraded)"],
            id="slow-replica-of-desired-config-is-not-rolled",
        ),
        pytest.param(
            desired(),
            [new(state="exited"), new(state="exited")],
            "create",
            ["2 stopped container(s) to remove"],
            id="all-stopped",
        ),
    ],
)
def test_plan_service(want, live, action, reasons):
    plan = plan_service(WASTE, want, live)
    assert plan.action == action
    assert list(plan.reasons) == reasons


def test_secrets_rotation_is_named():
    want = desired(
        service="auth", digest=D1, version="1.0.0", secrets_hash="b", config_hash="new"
    )
    live = [container(service="auth", secrets_hash="a") for _ in range(2)]
    plan = plan_service(AUTH, want, live)
    assert (plan.action, plan.reasons) == ("roll", ("secrets",))


def test_unmanaged_service_is_left_alone():
    plan = plan_service(WASTE, None, [container()])
    assert plan.action == "none" and not plan.managed
    assert plan.live.replicas == 1 and plan.desired is None


def test_a_slow_proxy_running_the_desired_config_is_not_replaced():
    want = desired(service="proxy", role=ROLE_PROXY, replicas=1)
    slow = new(service="proxy", health="unhealthy", answers=True)
    plan = plan_service(PROXY, want, [slow])
    assert (plan.action, plan.health) == ("none", "DEGRADED")


def test_proxy_roll_says_it_interrupts():
    want = desired(service="proxy", role=ROLE_PROXY, replicas=1)
    plan = plan_service(PROXY, want, [container(service="proxy")])
    assert plan.action == "roll"
    assert "brief interruption" in plan.reasons[-1]


@pytest.mark.parametrize(
    "live, health",
    [
        pytest.param([], "MISSING", id="missing"),
        pytest.param([new(), new()], "HEALTHY", id="healthy"),
        pytest.param([new(), new(health="starting")], "PROGRESSING", id="starting"),
        pytest.param([new(), new(health="unhealthy")], "DEGRADED", id="unhealthy"),
        pytest.param(
            [new(), new(health="unhealthy", answers=True)], "DEGRADED", id="slow"
        ),
        pytest.param([new()], "DEGRADED", id="too-few"),
    ],
)
def test_health_is_separate_from_sync(live, health):
    assert plan_service(WASTE, desired(), live).health == health


def test_classify_groups_and_keeps_the_oldest():
    a, b, c = new(), new(), new()
    old, dead, sick = container(), container(state="exited"), new(health="unhealthy")
    slow = new(health="unhealthy", answers=True)
    g = classify([c, old, dead, b, sick, a, slow], "new")
    assert g.current == (a, b, c, slow)
    assert sorted(c.id for c in g.retire) == sorted([old.id, sick.id])
    assert g.garbage == (dead,)
    keep, extra = split_current(g.current, 2)
    assert (keep, extra) == ((a, b), (c, slow))
    keep, extra = split_current((slow, a), 1)
    assert (keep, extra) == ((a,), (slow,))  # a healthy one before a slow one


def test_plan_orders_proxy_first_then_api_before_worker_and_hides_absent():
    state = LiveState("p", (new(), new()))
    want = {
        "waste": desired(),
        "waste-worker": desired("waste-worker", entry="waste", role=ROLE_WORKER),
    }
    plan = make_plan("local", "p", [WORKER, AUTH, WASTE, PROXY], want, state)
    assert [s.service for s in plan.services] == ["waste", "waste-worker"]
    assert [s.action for s in plan.services] == ["none", "create"]
    assert not plan.in_sync and [s.service for s in plan.changes] == ["waste-worker"]
    assert summary(plan) == "waste-worker 1.1.0"
    assert plan.to_dict()["services"][0]["sync"] == "IN_SYNC"


COMPOSE_BASE = {
    "x-http": {"restart": "unless-stopped"},
    "services": {
        "auth": {
            "image": "${AUTH_IMAGE:?set}",
            "env_file": ["${ECOTRACK_SECRETS_FILE:?set}"],
            "deploy": {"replicas": 2},
            "stop_grace_period": "15s",
        },
        "waste": {"image": "${WASTE_IMAGE:?set}", "deploy": {"replicas": 2}},
        "waste-worker": {
            "image": "${WASTE_IMAGE:?set}",
            "command": ["worker"],
            "stop_grace_period": "30s",
        },
        "proxy": {"image": "${PROXY_IMAGE:?set}"},
        "helper": {"image": "busybox"},
    },
}
COMPOSE_PROD = {"services": {"auth": {"deploy": {"replicas": 3}}}}


def test_units_from_compose():
    units = {u.service: u for u in units_from_compose([COMPOSE_BASE, COMPOSE_PROD])}
    assert set(units) == {"auth", "waste", "waste-worker", "proxy"}
    assert units["auth"] == Unit(
        "auth", "auth", ROLE_HTTP, 3, True, 15.0, env_file=True
    )
    assert units["waste-worker"] == Unit(
        "waste-worker", "waste", ROLE_WORKER, 1, False, 30.0
    )
    assert units["proxy"].role == ROLE_PROXY
    order = [u.service for u in units_from_compose([COMPOSE_BASE])]
    assert order == ["proxy", "auth", "waste", "waste-worker"]


def test_the_real_compose_files_give_five_apis_a_worker_and_the_proxy():
    import yaml

    from release.base.layout import GITOPS

    for env in ("local", "staging", "prod"):
        docs = [yaml.safe_load(p.read_text()) for p in GITOPS.compose_files(env)]
        units = units_from_compose(docs)
        roles = sorted((u.service, u.role) for u in units)
        assert ("waste-worker", ROLE_WORKER) in roles
        assert sum(r == ROLE_HTTP for _, r in roles) == 5
        assert {u.service for u in units if u.uses_secrets} == {"auth", "users"}


def entry(version="1.1.0", replicas=2, flags=None):
    return ServiceEntry(
        image=f"r/x:t@{D2}",
        version=version,
        git_sha="abcdef1",
        deployed_at="2026-01-01T00:00:00Z",
        deployed_by="ci",
        replicas=replicas,
        feature_flags=flags or {},
    )


def test_desired_units_from_the_manifest():
    manifest = Manifest(
        "prod",
        {"waste": entry(flags={"new_model": "on"}), "auth": entry(replicas=0)},
    )
    want = desired_units(manifest, [WASTE, WORKER, AUTH, PROXY], "s3cr3th4sh")
    assert set(want) == {"waste", "waste-worker", "auth"}  # proxy: not in manifest
    assert want["waste-worker"].replicas == 1 and want["waste"].replicas == 2
    assert want["waste-worker"].flags == {"new_model": "on"}
    assert want["auth"].secrets_hash == "s3cr3th4sh"
    assert want["waste"].secrets_hash == ""
    gone = desired_units(Manifest("prod", {"waste": entry(replicas=0)}), [WORKER], "")
    assert gone["waste-worker"].replicas == 0  # the worker follows its API


def test_compose_override_carries_version_flags_and_fingerprints():
    want = {
        "waste": desired(flags={"new_model": "on"}),
        "auth": desired("auth", secrets_hash="abc"),
    }
    doc = compose_override(want, {"waste": "h1"})
    assert doc["services"]["waste"] == {
        "labels": {"io.ecotrack.version": "1.1.0", "io.ecotrack.config-hash": "h1"},
        "environment": {"FEATURE_NEW_MODEL": "on"},
    }
    assert doc["services"]["auth"]["labels"]["io.ecotrack.secrets-hash"] == "abc"
    assert "environment" not in doc["services"]["auth"]


def test_config_hash_ignores_replicas_and_itself_but_not_secrets_or_flags():
    base = {
        "image": "r/x@sha256:1",
        "deploy": {"replicas": 2},
        "environment": {"JWT_SECRET": "a"},
        "labels": {"io.ecotrack.version": "1"},
    }
    h = config_hash(base)
    assert h == config_hash({**base, "deploy": {"replicas": 5}})
    labelled = {**base, "labels": {**base["labels"], "io.ecotrack.config-hash": h}}
    assert config_hash(labelled) == h
    assert config_hash({**base, "environment": {"JWT_SECRET": "b"}}) != h
    assert config_hash({**base, "environment": {"FEATURE_X": "on"}}) != h


def test_flags_secrets_and_durations():
    assert flag_env({"new_model": "on", "b": "1"}) == {
        "FEATURE_B": "1",
        "FEATURE_NEW_MODEL": "on",
    }
    assert secrets_hash({"JWT_SECRET": "x"}) != secrets_hash({"JWT_SECRET": "y"})
    assert len(secrets_hash({"JWT_SECRET": "x"})) == 16
    assert "x" not in secrets_hash({"JWT_SECRET": "xxxxxxxxxxxxxxxxxxxx"})
    assert parse_duration("15s") == 15.0
    assert parse_duration("1m30s") == 90.0
    assert parse_duration(None) == 10.0
    assert parse_duration("bogus") == 10.0


def test_select_by_service_or_entry():
    units = [WASTE, WORKER, AUTH]
    assert select(units, ["waste"]) == (WASTE, WORKER)
    assert select(units, ["waste-worker"]) == (WORKER,)
    assert select(units, []) == tuple(units)
