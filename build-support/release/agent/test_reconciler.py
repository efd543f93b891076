"""The agent's parts that need no Docker: events, metrics, HTTP endpoints, its clone."""

from __future__ import annotations

import io
import json
import subprocess
import urllib.request

import pytest

from release.adapters import agent_http
from release.adapters.agent_clone import Checkout, desired_paths
from release.adapters.host_access import DockerHostAccess
from release.agent import config as agent_config
from release.agent import dashboard
from release.agent import events as agent_events
from release.agent import metrics as agent_metrics
from release.agent import reconciler as agent
from release.base.errors import ConfigError, GitError, UsageError
from release.targets import notify


def test_events_are_json_lines():
    stream = io.StringIO()
    log = agent_events.EventLog("staging", "p", stream)
    log("fetched", commit="abc")
    log("deploy_finished", level="error", result="failed")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["event"] for e in lines] == ["fetched", "deploy_finished"]
    assert lines[0]["env"] == "staging" and lines[0]["commit"] == "abc"
    assert lines[1]["level"] == "error" and "ts" in lines[1]
    assert list(log.recent) == lines


@pytest.mark.parametrize(
    "text, expected",
    [("127.0.0.1:8790", ("127.0.0.1", 8790)), ("[::1]:9000", ("::1", 9000))],
)
def test_parse_listen(text, expected):
    assert agent_config.parse_listen(text) == expected


@pytest.mark.parametrize("text", ["8790", "localhost:", ":80", "a:b"])
def test_parse_listen_refuses(text):
    with pytest.raises(UsageError):
        agent_config.parse_listen(text)


STATUS = {
    "environment": "staging",
    "sync": "OUT_OF_SYNC",
    "health": "DEGRADED",
    "services": [
        {
            "service": "waste",
            "sync": "OUT_OF_SYNC",
            "health": "DEGRADED",
            "replicas": 1,
            "metrics": {"requests": 10, "errors": 1},
        }
    ],
    "findings": [
        {"service": "waste", "kind": "stopped"},
        {"service": "waste", "kind": "missing_replicas"},
    ],
}


class FakeAgent:
    def __init__(self):
        self.status = STATUS
        self.metrics = agent_metrics.AgentMetrics("staging", lambda: self.status)


def test_metrics_exposition():
    fake = FakeAgent()
    fake.metrics.deploys.labels("staging", "commit", "ok").inc()
    fake.metrics.duration.labels("staging").observe(12.0)
    from prometheus_client import generate_latest

    text = generate_latest(fake.metrics.registry).decode()
    assert (
        'ecotrack_agent_deploys_total{env="staging",result="ok",trigger="commit"} 1.0'
        in text
    )
    assert "ecotrack_agent_rollout_duration_seconds_count" in text
    assert (
        'ecotrack_drift_findings{env="staging",kind="stopped",service="waste"} 1.0'
        in text
    )
    assert 'ecotrack_drift_detected{env="staging"} 1.0' in text
    assert (
        'ecotrack_service_health{env="staging",health="DEGRADED",service="waste"} 1.0'
        in text
    )
    assert (
        'ecotrack_service_health{env="staging",health="HEALTHY",service="waste"} 0.0'
        in text
    )
    assert 'ecotrack_service_errors{env="staging",service="waste"} 1.0' in text


def test_http_endpoints():
    server = agent_http.serve(FakeAgent(), "127.0.0.1", 0, dashboard.render)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with urllib.request.urlopen(f"{base}/status") as r:
            assert json.loads(r.read())["sync"] == "OUT_OF_SYNC"
        with urllib.request.urlopen(f"{base}/metrics") as r:
            assert b"ecotrack_drift_detected" in r.read()
        with urllib.request.urlopen(f"{base}/") as r:
            assert r.headers["Content-Type"].startswith("text/html")
            assert b'data-service="waste"' in r.read()
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(f"{base}/nope")
        assert exc.value.code == 404
    finally:
        server.shutdown()
        server.server_close()


def git(repo, *args):
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_checkout_follows_the_branch(tmp_path):
    remote = tmp_path / "remote"
    (remote / "gitops" / "versions").mkdir(parents=True)
    git(tmp_path, "init", "-q", "-b", "main", str(remote))
    (remote / "gitops" / "versions" / "staging.json").write_text("{}\n")
    (remote / "README").write_text("a\n")
    git(remote, "add", "-A")
    git(remote, "commit", "-qm", "one")
    first = git(remote, "rev-parse", "HEAD")
    co = Checkout(tmp_path / "clone", str(remote), "main")
    co.ensure()
    assert co.fetch() == first
    co.checkout(first)
    assert (co.gitops / "versions" / "staging.json").read_text() == "{}\n"
    key = co.desired_key(first, "staging")
    (remote / "README").write_text("b\n")
    git(remote, "commit", "-qam", "docs only")
    second = co.fetch()
    assert second != first and co.desired_key(second, "staging") == key
    (remote / "gitops" / "versions" / "staging.json").write_text("{ }\n")
    git(remote, "commit", "-qam", "manifest")
    third = co.fetch()
    assert co.desired_key(third, "staging") != key
    assert co.show(first, desired_paths("staging")[0]) == "{}\n"
    assert co.show(first, "gitops/nope") is None
    assert co.has(first) and not co.has("0" * 40)
    co.ensure()  # idempotent


def test_fetching_a_missing_branch_is_a_git_error(tmp_path):
    git(tmp_path, "init", "-q", "-b", "main", str(tmp_path / "r"))
    co = Checkout(tmp_path / "clone", str(tmp_path / "r"), "nope")
    co.ensure()
    with pytest.raises(GitError, match="cannot fetch nope"):
        co.fetch()


def test_a_crashing_pass_is_logged_and_the_loop_goes_on(tmp_path):
    git(tmp_path, "init", "-q", "-b", "main", str(tmp_path / "r"))
    stream = io.StringIO()
    config = agent_config.AgentConfig(
        env="staging", repo=str(tmp_path / "r"), once=True, home=tmp_path / "home"
    )
    a = agent.Agent(
        config,
        DockerHostAccess(),
        notifier=notify.Notifier(None),
        log=agent_events.EventLog("staging", "p", stream),
    )

    def boom():
        raise RuntimeError("bug")

    a.tick = boom
    assert a.run() == 1
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert events == ["agent_started", "tick_failed", "agent_stopped"]
    # one agent per state directory
    second = agent.Agent(
        config,
        DockerHostAccess(),
        notifier=notify.Notifier(None),
        log=agent_events.EventLog("s", "p", stream),
    )
    with pytest.raises(ConfigError, match="another agent"):
        second._take_instance_lock()
