"""The dashboard page: content, escaping, and nothing loaded from elsewhere."""

from __future__ import annotations

import re

from release.agent import dashboard

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def status(**kw) -> dict:
    base = {
        "environment": "staging",
        "project": "ecotrack-staging",
        "repo": "/srv/gitops",
        "branch": "main",
        "head": "c" * 40,
        "synced_commit": "c" * 40,
        "failed_commit": "",
        "sync": "IN_SYNC",
        "health": "HEALTHY",
        "services": [
            {
                "service": "waste",
                "sync": "IN_SYNC",
                "health": "HEALTHY",
                "version": "1.3.0",
                "desired_version": "1.3.0",
                "digest": D2,
                "replicas": 2,
                "desired_replicas": 2,
                "kinds": [],
                "last_deploy": {
                    "commit": "c" * 40,
                    "at": "2026-11-28T22:00:00+00:00",
                    "result": "ok",
                    "trigger": "commit",
                },
                "metrics": {
                    "requests": 120,
                    "errors": 0,
                    "error_rate": 0.0,
                    "p99_ms": 25.0,
                },
            }
        ],
        "findings": [],
        "history": [
            {
                "service": "waste",
                "action": "updated",
                "commit": "c" * 40,
                "when": "2026-11-28T22:00:00Z",
                "who": "ci",
                "subject": "release(staging): waste 1.3.0",
                "from_version": "1.2.0",
                "to_version": "1.3.0",
                "to_digest": D2,
            },
            {
                "service": "waste",
                "action": "added",
                "commit": "b" * 40,
                "when": "2026-11-27T22:00:00Z",
                "who": "ci",
                "subject": "release(staging): waste 1.2.0",
                "to_version": "1.2.0",
                "to_digest": D1,
            },
        ],
        "attempts": [],
        "agent": {"interval": 5, "self_heal": True, "last_tick_at": ""},
    }
    return {**base, **kw}


def test_page_shows_services_history_and_timeline():
    page = dashboard.render(status())
    assert '<tr data-service="waste">' in page
    assert "1.3.0" in page and "222222222222" in page
    assert 'id="timeline"' in page and page.count('class="release"') == 2
    assert 'data-version="1.2.0"' in page and 'data-version="1.3.0"' in page
    assert "release(staging): waste 1.3.0" in page
    assert "120 req" in page


def test_nothing_is_loaded_from_elsewhere():
    page = dashboard.render(status())
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(", page)
    # the SVG namespace is a name, not a download
    assert set(re.findall(r"https?://[^\s\"'<]+", page)) <= {
        "http://www.w3.org/2000/svg"
    }


def test_values_are_escaped():
    s = status(project="<script>alert(1)</script>")
    s["services"][0]["service"] = "<b>x</b>"
    page = dashboard.render(s)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "<b>x</b>" not in page


def test_failure_and_drift_are_prominent():
    s = status(
        failed_commit="f" * 40,
        failed_services=["waste"],
        sync="OUT_OF_SYNC",
        findings=[
            {
                "service": "waste",
                "kind": "stopped",
                "container": "p-waste-2",
                "expected": "running",
                "actual": "exited (137)",
            }
        ],
    )
    page = dashboard.render(s)
    assert 'id="failed"' in page and "ffffffffffff" in page
    assert 'id="drift"' in page and "exited (137)" in page


def test_empty_status_renders():
    page = dashboard.render({"environment": "prod"})
    assert "no releases recorded" in page and "UNKNOWN" in page


def test_last_deploy_falls_back_to_the_manifest_history_and_idle_units_hide():
    s = status()
    s["services"][0]["last_deploy"] = None
    s["services"].append(
        {"service": "users", "sync": "UNKNOWN", "health": "UNKNOWN", "replicas": 0}
    )
    page = dashboard.render(s)
    row = page.split('<tr data-service="waste">')[1].split("</tr>")[0]
    assert "released by ci" in row and "cccccccccccc" in row
    assert 'data-service="users"' not in page


def test_a_fleet_shows_each_host_and_where_drift_is():
    waste = status()["services"][0]
    old = {**waste, "version": "1.2.0", "digest": D1, "sync": "OUT_OF_SYNC"}
    s = status(
        sync="OUT_OF_SYNC",
        hosts=[
            {
                "name": "web-1",
                "endpoint": "ssh://deploy@10.0.1.11",
                "sync": "IN_SYNC",
                "health": "HEALTHY",
                "findings": 0,
                "services": [waste],
            },
            {
                "name": "web-2",
                "endpoint": "ssh://deploy@10.0.1.12",
                "sync": "OUT_OF_SYNC",
                "health": "HEALTHY",
                "findings": 1,
                "services": [old],
            },
        ],
        findings=[
            {
                "host": "web-2",
                "service": "waste",
                "kind": "image",
                "container": "p-waste-1",
                "expected": "1.3.0",
                "actual": "1.2.0",
            }
        ],
    )
    page = dashboard.render(s)
    hosts = page[
        page.index('id="hosts"') : page.index("</section>", page.index('id="hosts"'))
    ]
    web1 = hosts[hosts.index('data-host="web-1"') : hosts.index('data-host="web-2"')]
    web2 = hosts[hosts.index('data-host="web-2"') :]
    assert "1.3.0" in web1 and "222222222222" in web1 and "IN_SYNC" in web1
    assert "1.2.0" in web2 and "111111111111" in web2 and "OUT_OF_SYNC" in web2
    drift = page[page.index('id="drift"') :]
    assert "<th>host</th>" in drift and "<td>web-2</td>" in drift
    # One host: no hosts section, no host column.
    single = dashboard.render(status())
    assert 'id="hosts"' not in single
