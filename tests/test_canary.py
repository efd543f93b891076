"""Canary releases on the real engine, with load running through the proxy: a
version answering 5xx is aborted (old replicas untouched), a good one promoted
(`./inv deploy --canary 1` as a user runs it)."""

from __future__ import annotations

import json
import time

from release.canary import rollout as canary
from testing.gitops import SERVICE, Load, docker
from testing.webhook import WebhookReceiver


def test_a_version_answering_5xx_is_aborted(gitops):
    before = {c.id for c in gitops.containers()}
    bad = gitops.manifest("5xx")
    with Load(gitops.port) as load:
        time.sleep(2)
        started = time.monotonic()
        result = gitops.canary(bad, window=60, max_error_rate=0.01, min_requests=10)
        took = time.monotonic() - started
        aborted_at = time.time()
        time.sleep(3)
    print(f"canary abort: {took:.1f}s, {result.reason}")
    assert result.decision == canary.ABORTED and result.exit_code == 3
    assert result.by_verdict
    assert "error rate" in result.reason and result.errors >= 10
    assert result.own_errors >= 1  # the service's own /metrics saw them too
    assert result.observed_s < 30  # aborted early, not at the end of the window
    # The old replicas never stopped; no canary is left; the lock is free.
    assert {c.id for c in gitops.containers()} == before
    assert not docker("ps", "-aq", "--filter", f"name={gitops.project}-deploy-lock")
    # Failures came only from the canary's share, and stopped with it.
    late = [r for r in load.failures if r[0] > aborted_at]
    assert late == []
    assert all(r[2] == "HTTP 500" for r in load.failures)
    assert len(load.failures) < len(load.results) / 2
    # the generator ran: at least a quarter of the requests due, and 20
    assert len(load.results) >= max(20, load.scheduled() / 4), load.scheduled()


def test_a_good_version_is_promoted_through_the_cli(gitops):
    before = {c.id for c in gitops.containers()}
    path = gitops.write(gitops.manifest("v2"))
    receiver = WebhookReceiver()
    with Load(gitops.port) as load:
        r = gitops.inv_deploy(
            path,
            *("--service", SERVICE, "--canary", "1", "--canary-window", "8"),
            *("--max-error-rate", "0.01"),
            env={"ECOTRACK_SLACK_WEBHOOK_URL": receiver.url},
        )
        time.sleep(1)
    receiver.close()
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert any(t.startswith("[local] canary promoted") for t in receiver.texts())
    doc = json.loads(r.stdout)
    assert doc["decision"] == "promoted" and "within" in doc["reason"]
    assert doc["requests"] >= 20 and doc["errors"] == 0
    now = gitops.containers()
    assert len(now) == 2 and not ({c.id for c in now} & before)
    assert {c.digest for c in now} == {gitops.entries["v2"].image.split("@")[1]}
    assert load.failures == [], load.failures[:5]
    # the generator ran: at least a quarter of the requests due, and 20
    assert len(load.results) >= max(20, load.scheduled() / 4), load.scheduled()
