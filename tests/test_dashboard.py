"""The agent's dashboard in real headless Chromium (Debian's `chromium`), with a
history of three manifest commits, plus /status and /metrics next to it.

The screenshot goes to test-output/dashboard.png (ignored by git)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from release.agent import dashboard
from release.model.manifest import Manifest
from testing.agent_repo import AgentProcess, commit_manifest, make_gitops_repo
from testing.gitops import PATH, SERVICE

ROOT = Path(__file__).resolve().parents[1]

CHROMIUM = (
    shutil.which("chromium") or shutil.which("google-chrome") or "/usr/bin/chromium"
)
SCREENSHOT = ROOT / "test-output" / "dashboard.png"


def chromium(user_data: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={user_data}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def pixels(png: Path, color: str, tolerance: int = 4) -> int:
    """How many pixels of the screenshot have `color` (#rrggbb), each channel within
    `tolerance` of it."""
    from matplotlib import image  # in the tooling venv; reads PNG as floats 0..1

    rgb = (image.imread(png)[..., :3] * 255).round().astype(int)
    want = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    return int((abs(rgb - want).max(axis=-1) <= tolerance).sum())


def dated(manifest: Manifest, when: str, who: str) -> Manifest:
    return Manifest(
        manifest.environment,
        {
            n: replace(e, deployed_at=when, deployed_by=who)
            for n, e in manifest.services.items()
        },
    )


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="apt-get install chromium")
def test_dashboard_in_chromium(gitops, tmp_path):
    repo = tmp_path / "remote"
    first = gitops.manifest()
    first = Manifest("local", {k: first.services[k] for k in ("proxy", SERVICE)})
    make_gitops_repo(
        repo,
        dated(first, "2026-11-20T09:00:00Z", "alice@ecotrack.invalid"),
        "release(local): recycling 1.0.0",
    )
    commit_manifest(
        repo,
        dated(gitops.manifest("v2"), "2026-11-24T14:30:00Z", "bob@ecotrack.invalid"),
        "release(local): recycling 1.1.0, auth 1.0.0",
    )
    head = commit_manifest(
        repo,
        dated(gitops.baseline, "2026-11-27T17:15:00Z", "carol@ecotrack.invalid"),
        "rollback(local): recycling 1.0.0",
    )
    agent = AgentProcess(gitops, repo, tmp_path / "agent")
    try:
        agent.start()
        agent.wait(
            lambda s: s["synced_commit"] == head and s["sync"] == "IN_SYNC",
            120,
            "in sync",
        )
        for _ in range(20):  # some traffic, for the per-service numbers
            assert gitops.get_json(PATH)[0] == 200
        status = agent.wait(
            lambda s: next(x for x in s["services"] if x["service"] == SERVICE)[
                "metrics"
            ]["requests"]
            >= 20,
            30,
            "the traffic counted",
        )
        url = f"http://127.0.0.1:{agent.port}/"
        dom = chromium(tmp_path / "chromium", "--dump-dom", url)
        assert dom.returncode == 0, dom.stderr[-2000:]
        page = dom.stdout
        SCREENSHOT.parent.mkdir(exist_ok=True)
        SCREENSHOT.unlink(missing_ok=True)
        shot = chromium(
            tmp_path / "chromium",
            f"--screenshot={SCREENSHOT}",
            "--window-size=1280,900",
            url,
        )
        assert shot.returncode == 0, shot.stderr[-2000:]
        metrics_code, metrics = agent.get("/metrics")
    finally:
        agent.stop()

    # What runs: each service with its version, digest, sync, health, last deploy.
    row = re.search(r'<tr data-service="recycling">(.*?)</tr>', page, re.S).group(1)
    assert "IN_SYNC" in row and "HEALTHY" in row and "1.0.0" in row
    digest = gitops.entries["v1"].image.split("@sha256:")[1][:12]
    assert digest in row
    assert re.search(r"[2-9]\d* req · 0\.0% 5xx", row), row
    auth = re.search(r'<tr data-service="auth">(.*?)</tr>', page, re.S).group(1)
    assert "IN_SYNC" in auth and "HEALTHY" in auth and "1.0.0" in auth, auth
    assert gitops.entries["auth"].image.split("@sha256:")[1][:12] in auth, auth
    proxy = re.search(r'<tr data-service="proxy">(.*?)</tr>', page, re.S).group(1)
    assert "IN_SYNC" in proxy and "1.0.0" in proxy, proxy
    assert gitops.entries["proxy"].image.split("@sha256:")[1][:12] in proxy, proxy
    # The history from the manifest's git log, and a timeline per service.
    for subject in (
        "release(local): recycling 1.0.0",
        "release(local): recycling 1.1.0, auth 1.0.0",
        "rollback(local): recycling 1.0.0",
    ):
        assert subject in page
    assert "carol@ecotrack.invalid" in page
    markers = re.findall(
        r'<g class="release" data-service="([a-z-]+)" data-version="([^"]+)"', page
    )
    assert sorted(markers) == sorted(
        [
            ("proxy", "1.0.0"),
            ("recycling", "1.0.0"),
            ("recycling", "1.1.0"),
            ("auth", "1.0.0"),
            ("recycling", "1.0.0"),
        ]
    )
    assert page.count("<circle") == 5
    # Nothing from elsewhere, and Chromium rendered it.
    assert not re.search(r"<script|<link|<img", page)
    # The screenshot is the dashboard, not an error or blank page: the window's size,
    # the header's dark band across the top, and the green (#1a7f37) IN_SYNC and
    # HEALTHY badges: ~1,000 pixels each; the two summary badges alone are ~2,000,
    # with the three services' rows ~8,000 (measured with this Chromium).
    from matplotlib import image

    assert image.imread(SCREENSHOT).shape[:2] == (900, 1280)
    assert pixels(SCREENSHOT, dashboard.COLORS["IN_SYNC"]) >= 6_000
    assert pixels(SCREENSHOT, "#24292f") >= 1280 * 60  # the header: 80 px high
    # The same numbers for Prometheus.
    assert metrics_code == 200
    assert (
        'ecotrack_service_health{env="local",health="HEALTHY",service="recycling"} 1.0'
        in metrics
    )
    assert 'ecotrack_drift_detected{env="local"} 0.0' in metrics
    requests = re.search(
        r'ecotrack_service_requests\{env="local",service="recycling"\} ([0-9.]+)',
        metrics,
    )
    assert requests and float(requests.group(1)) >= 20
    assert status["health"] == "HEALTHY"
