"""The agent's memory and decisions: one attempt per desired state, self-heal once
per drift, survival across restarts."""

from __future__ import annotations

import json

import pytest

from release.agent import state as agent_state
from release.agent.state import AgentState, Attempt, decide
from release.base.errors import ConfigError
from release.model.manifest import Manifest, ServiceEntry

K0, K1, K2 = "key0", "key1", "key2"
C0, C1, C2 = "0" * 40, "1" * 40, "2" * 40


def synced(**kw) -> AgentState:
    s = AgentState(env="staging", project="p", synced_commit=C0, synced_key=K0)
    s.attempted_commit, s.attempted_key = C0, K0
    for k, v in kw.items():
        setattr(s, k, v)
    return s


def failed_at(commit=C1, key=K1, services=("waste",)) -> AgentState:
    return synced(
        attempted_commit=commit,
        attempted_key=key,
        failed_commit=commit,
        failed_services=list(services),
    )


def d(
    state, head=C1, key=K1, changed=("waste",), drifted=(), repair=(), fp="", heal=False
):
    return decide(
        state,
        head,
        key,
        None if changed is None else list(changed),
        list(drifted),
        list(repair),
        fp,
        heal,
    )


CASES = [
    pytest.param(
        AgentState("staging", "p"), dict(changed=None), "deploy", (), id="first-sync"
    ),
    pytest.param(synced(), {}, "deploy", ("waste",), id="new-commit-deploys-changed"),
    pytest.param(
        synced(), dict(changed=()), "adopt", (), id="commit-changing-no-service"
    ),
    pytest.param(synced(), dict(head=C0, key=K0, changed=()), "none", (), id="in-sync"),
    pytest.param(
        failed_at(),
        dict(drifted=("waste",), repair=("waste",)),
        "wait",
        (),
        id="failed-commit-not-retried",
    ),
    pytest.param(
        failed_at(),
        dict(head=C2, drifted=("waste",), repair=("waste",)),
        "wait",
        (),
        id="new-commit-same-desired-state-not-retried",
    ),
    pytest.param(
        failed_at(),
        dict(head=C2, key=K2, changed=("waste", "auth")),
        "deploy",
        ("waste", "auth"),
        id="new-desired-state-after-failure",
    ),
    pytest.param(
        failed_at(), dict(drifted=()), "adopt", (), id="fixed-by-hand-is-adopted"
    ),
    pytest.param(
        failed_at(),
        dict(head=C2, key=K0, changed=()),
        "adopt",
        (),
        id="failed-change-reverted",
    ),
    pytest.param(
        failed_at(),
        dict(drifted=("waste", "auth"), repair=("waste", "auth"), heal=True, fp="x"),
        "heal",
        ("auth",),
        id="self-heal-beside-a-failed-service",
    ),
    pytest.param(
        synced(),
        dict(head=C0, key=K0, drifted=("auth",), repair=("auth",)),
        "none",
        (),
        id="drift-without-self-heal",
    ),
    pytest.param(
        synced(),
        dict(head=C0, key=K0, drifted=("auth",), repair=("auth",), heal=True, fp="x"),
        "heal",
        ("auth",),
        id="self-heal",
    ),
    pytest.param(
        synced(heal_failed_fingerprint="x"),
        dict(head=C0, key=K0, drifted=("auth",), repair=("auth",), heal=True, fp="x"),
        "wait",
        (),
        id="failed-repair-not-retried",
    ),
    pytest.param(
        synced(heal_failed_fingerprint="x"),
        dict(head=C0, key=K0, drifted=("auth",), repair=("auth",), heal=True, fp="y"),
        "heal",
        ("auth",),
        id="new-drift-after-failed-repair",
    ),
    pytest.param(
        synced(),
        dict(head=C0, key=K0, drifted=("auth",), repair=(), heal=True, fp="x"),
        "none",
        (),
        id="unmanaged-container-is-not-healed",
    ),
]


@pytest.mark.parametrize("state, kw, action, services", CASES)
def test_decide(state, kw, action, services):
    decision = d(state, **kw)
    assert (decision.action, decision.services) == (action, services), decision.reason


def _attempt(commit=C1, key=K1, trigger="commit", services=("waste",)) -> Attempt:
    return Attempt(
        commit, trigger, list(services), "2026-01-01T00:00:00+00:00", desired_key=key
    )


def test_a_failed_attempt_is_remembered_and_not_retried():
    s = synced()
    a = _attempt()
    s.begin(a)
    s.finish(
        a, "failed", "waste unhealthy", ["waste"], {"waste": ("1.3.0", "sha256:b")}
    )
    assert (s.failed_commit, s.failed_services, s.in_progress) == (C1, ["waste"], None)
    assert s.synced_commit == C0
    assert s.services["waste"].result == "failed"
    assert d(s, drifted=("waste",)).action == "wait"


def test_success_moves_the_synced_commit_and_clears_the_failure():
    s = failed_at()
    a = _attempt(C2, K2)
    s.finish(a, "ok", versions={"waste": ("1.4.0", "sha256:c")})
    assert (s.synced_commit, s.synced_key, s.failed_commit) == (C2, K2, "")
    assert s.services["waste"].version == "1.4.0"
    assert d(s, head=C2, key=K2, changed=()).action == "none"


def test_an_interrupted_attempt_is_retried():
    s = synced()
    a = _attempt()
    s.begin(a)
    s.finish(a, "interrupted")
    assert s.attempted_key == K0 and s.synced_key == K0
    assert d(s).action == "deploy"


def test_a_failed_repair_keeps_the_commit_synced():
    s = synced()
    a = _attempt(C0, K0, trigger="self-heal", services=("auth",))
    s.finish(a, "failed", "auth unhealthy", ["auth"], drift_fingerprint="x")
    assert (s.synced_commit, s.failed_commit, s.heal_failed_fingerprint) == (
        C0,
        "",
        "x",
    )


def test_state_survives_a_restart(tmp_path):
    s = synced()
    a = _attempt()
    s.begin(a)
    agent_state.save(tmp_path, s)
    again = agent_state.load(tmp_path, "staging", "p")
    assert again.in_progress == a
    again.finish(again.in_progress, "failed", "boom", ["waste"])
    agent_state.save(tmp_path, again)
    third = agent_state.load(tmp_path, "staging", "p")
    assert third.failed_commit == C1 and third.attempts[-1].reason == "boom"
    assert not list(tmp_path.glob(".state.*"))  # no temp files left


def test_missing_state_is_a_fresh_start(tmp_path):
    s = agent_state.load(tmp_path, "prod", "ecotrack-prod")
    assert (s.env, s.synced_commit, s.attempts) == ("prod", "", [])


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("{not json", id="not-json"),
        pytest.param(json.dumps({"version": 99}), id="other-version"),
        pytest.param(json.dumps({"version": 1, "nope": 1}), id="unknown-keys"),
    ],
)
def test_a_damaged_state_file_is_one_clear_error(tmp_path, text):
    agent_state.state_path(tmp_path).write_text(text)
    with pytest.raises(ConfigError, match="state"):
        agent_state.load(tmp_path, "staging", "p")


def test_state_of_another_environment_is_refused(tmp_path):
    agent_state.save(tmp_path, synced())
    with pytest.raises(ConfigError, match="not prod"):
        agent_state.load(tmp_path, "prod", "p")


def test_attempt_history_is_bounded():
    s = synced()
    for i in range(agent_state.HISTORY + 5):
        s.finish(_attempt(), "ok")
    assert len(s.attempts) == agent_state.HISTORY


# -- what a commit changes -------------------------------------------------------------

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64


def entry(digest=A, flags=None, at="2026-01-01T00:00:00Z", replicas=2) -> ServiceEntry:
    return ServiceEntry(
        image=f"r/ecotrack/x:t@{digest}",
        version="1.0.0",
        git_sha="abcdef1",
        deployed_at=at,
        deployed_by="me",
        replicas=replicas,
        feature_flags=flags or {},
    )


def m(**services) -> Manifest:
    return Manifest("staging", services)


BASE = [
    {"services": {"waste": {"image": "${WASTE_IMAGE}", "stop_grace_period": "15s"}}}
]


@pytest.mark.parametrize(
    "old, new, old_compose, new_compose, expected",
    [
        pytest.param(None, m(a=entry()), None, BASE, ["a"], id="no-base"),
        pytest.param(m(a=entry()), m(a=entry()), BASE, BASE, [], id="nothing"),
        pytest.param(
            m(a=entry(), b=entry()),
            m(a=entry(B), b=entry()),
            BASE,
            BASE,
            ["a"],
            id="one-image",
        ),
        pytest.param(
            m(a=entry()),
            m(a=entry(flags={"x": "on"})),
            BASE,
            BASE,
            ["a"],
            id="one-flag",
        ),
        pytest.param(
            m(a=entry()),
            m(a=entry(at="2027-01-01T00:00:00Z")),
            BASE,
            BASE,
            [],
            id="only-deployed-at",
        ),
        pytest.param(m(a=entry()), m(), BASE, BASE, ["a"], id="removed"),
        pytest.param(
            m(a=entry()),
            m(a=entry()),
            BASE,
            BASE + [{"services": {"waste": {"stop_grace_period": "30s"}}}],
            ["waste"],
            id="compose-override",
        ),
    ],
)
def test_changed_services(old, new, old_compose, new_compose, expected):
    assert agent_state.changed_services(old, new, old_compose, new_compose) == expected
