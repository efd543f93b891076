"""Feature flags end to end: the manifest's `feature_flags` reach the containers as
FEATURE_<NAME> variables and show at /version; changing one service's flag rolls only
that service, with no failed request (load running on both services)."""

from __future__ import annotations

import json

from testing.gitops import PATH, SERVICE, Load
from testing.webhook import WebhookReceiver


def test_changing_one_flag_rolls_only_that_service(gitops):
    recycling_before = {c.id for c in gitops.containers()}
    auth_before = {c.id for c in gitops.containers("auth")}
    flagged = gitops.manifest(flags={SERVICE: {"new_ui": "on", "max_items": "25"}})
    path = gitops.write(flagged)
    receiver = WebhookReceiver()
    with Load(gitops.port, PATH) as load, Load(
        gitops.internal_port, "/auth/version"
    ) as other:
        r = gitops.inv_deploy(path, env={"ECOTRACK_SLACK_WEBHOOK_URL": receiver.url})
    receiver.close()
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    # ./inv deploy notified the webhook (and never printed its URL).
    texts = receiver.texts()
    assert len(texts) == 2, texts
    assert texts[0] == "[local] deploy started: 1 service(s): recycling"
    assert texts[1].startswith("[local] deploy succeeded: recycling in ")
    assert receiver.url not in r.stdout + r.stderr
    doc = json.loads(r.stdout)
    changes = [s for s in doc["plan"]["services"] if s["action"] != "none"]
    assert [(s["service"], s["action"]) for s in changes] == [(SERVICE, "roll")]
    assert "flags" in changes[0]["reasons"]
    # Only recycling was replaced, and nobody noticed.
    assert not ({c.id for c in gitops.containers()} & recycling_before)
    assert {c.id for c in gitops.containers("auth")} == auth_before
    assert load.failures == [] and other.failures == [], (
        load.failures[:3],
        other.failures[:3],
    )
    assert len(load.results) > 50 and len(other.results) > 50
    # Every replica has the flags, as environment and at /version.
    for c in gitops.containers():
        assert dict(c.flags) == {"max_items": "25", "new_ui": "on"}
    for _ in range(6):  # round robin: both replicas answer
        status, body = gitops.get_json("/recycling/version", gitops.internal_port)
        assert status == 200
        assert body["feature_flags"] == {"max_items": "25", "new_ui": "on"}
    status, body = gitops.get_json("/auth/version", gitops.internal_port)
    assert body["feature_flags"] == {}
    # In sync with the flagged manifest; the baseline now differs by flags only.
    assert gitops.observe(flagged).report.in_sync
    kinds = {f.kind for f in gitops.observe().report.findings}
    assert kinds == {"flags"}
