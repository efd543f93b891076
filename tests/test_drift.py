"""Drift on the real Docker engine: one test per kind, against a stack the rollout
engine deployed (gitops_support.GitopsStack), plus `./inv drift` as a user runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

from release.adapters import compose_host
from release.gitops.secrets import ensure_keys, keys_dir, rotate
from release.verify import drift
from testing.gitops import SERVICE, docker

ROOT = Path(__file__).resolve().parents[1]


def inv_drift(stack, manifest_path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(ROOT / "inv"),
            "drift",
            "--env",
            "local",
            "--project",
            stack.project,
            "--manifest",
            str(manifest_path),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def found(report, service=SERVICE) -> set[str]:
    return {f.kind for f in report.findings if f.service == service}


def test_in_sync_exits_0_with_a_table(gitops):
    r = inv_drift(gitops, gitops.write(gitops.baseline))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "in sync" in r.stdout and "IN_SYNC" in r.stdout and "recycling" in r.stdout
    report = gitops.observe().report
    assert report.in_sync
    status = {s.service: (s.sync, s.health) for s in report.services}
    assert status[SERVICE] == ("IN_SYNC", "HEALTHY")
    assert status["auth"] == ("IN_SYNC", "HEALTHY")


def test_wrong_image_digest(gitops):
    # Someone deploys a build the manifest in git does not name.
    gitops.deploy(gitops.manifest("v2"), services=[SERVICE])
    report = gitops.observe().report
    assert found(report) == {drift.IMAGE}
    assert found(report, "auth") == set()
    r = inv_drift(gitops, gitops.write(gitops.baseline))
    assert r.returncode == 3, r.stdout + r.stderr
    assert "OUT_OF_SYNC" in r.stdout and "image" in r.stdout
    r = inv_drift(gitops, gitops.write(gitops.baseline), "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == 3 and not doc["in_sync"]
    assert {f["kind"] for f in doc["findings"]} == {"image"}
    assert {f["expected"].split()[0] for f in doc["findings"]} == {"1.0.0"}


def test_missing_replica(gitops):
    victim = gitops.containers()[0]
    docker("rm", "-f", victim.id)
    report = gitops.observe().report
    assert found(report) == {drift.MISSING}
    (f,) = report.findings
    assert (f.expected, f.actual) == ("2", "1 running")


def test_extra_replica(gitops):
    gitops.compose().run(*compose_host.scale_up_args(SERVICE, 3), timeout=300)
    report = gitops.observe().report
    assert found(report) == {drift.EXTRA}


def test_container_started_by_hand(gitops):
    cid = gitops.run_by_hand(gitops.entries["v1"].image)
    report = gitops.observe().report
    assert found(report) == {drift.UNMANAGED}
    (f,) = report.findings
    assert cid[:12] in f.actual
    assert drift.repairable(report) == []  # not ours: reported, never removed


def test_changed_compose_config(gitops, tmp_path):
    tree = tmp_path / "gitops"
    shutil.copytree(ROOT / "gitops", tree)
    local = tree / "environments" / "local" / "compose.yaml"
    local.write_text(local.read_text() + "  recycling:\n    stop_grace_period: 20s\n")
    report = gitops.observe(gitops_dir=tree).report
    assert found(report) == {drift.CONFIG}
    assert found(report, "auth") == set()


def test_changed_feature_flags(gitops):
    report = gitops.observe(gitops.manifest(flags={SERVICE: {"new_ui": "on"}})).report
    assert found(report) == {drift.FLAGS}
    assert report.findings[0].expected == "new_ui=on"
    assert found(report, "auth") == set()


def test_changed_secrets(gitops):
    before = ensure_keys(gitops.project)
    try:
        rotate(gitops.project)  # the host's keys change; containers keep the old
        report = gitops.observe().report
        assert found(report, "auth") == {drift.ENVIRONMENT}
        assert found(report) == set()  # recycling reads no secrets
        assert "JWT" not in json.dumps(report.to_dict())
        assert "PRIVATE KEY" not in json.dumps(report.to_dict())
    finally:
        for name, data in before.items():
            (keys_dir(gitops.project) / name).write_bytes(data)


def test_stopped_container(gitops):
    victim = gitops.containers()[0]
    docker("stop", "-t", "5", victim.id)
    report = gitops.observe().report
    assert found(report) == {drift.STOPPED, drift.MISSING}
    stopped = [f for f in report.findings if f.kind == drift.STOPPED]
    assert stopped[0].container == victim.name


def test_unhealthy_container(gitops):
    victim = gitops.containers()[0]
    # Its database read-only: /health/ready fails, Docker's check turns unhealthy.
    docker("exec", "-u", "root", victim.id, "chmod", "444", "/data/recycling.db")
    deadline = time.monotonic() + 60
    report = gitops.observe().report
    while drift.UNHEALTHY not in found(report) and time.monotonic() < deadline:
        time.sleep(2)
        report = gitops.observe().report
    assert drift.UNHEALTHY in found(report)
    service = next(s for s in report.services if s.service == SERVICE)
    assert service.health == "DEGRADED"


def test_looks_and_sessions_leave_sigterm_to_the_caller(gitops):
    """Signals belong to the CLI edge (cli/handler.py, cli/agent.py). The agent looks
    at the host every pass with its own SIGTERM handler in place; neither a look nor
    a deploy session may swap in another, or a SIGTERM during a pass would kill the
    agent instead of stopping it cleanly."""
    import signal

    from release.adapters import docker_host
    from release.adapters.host_access import DockerHostAccess
    from release.base.layout import GITOPS
    from release.targets.host import observe as observation
    from release.targets.host.session import DeploySession, ProjectOnHost

    access = DockerHostAccess()
    seen = []

    class Recording:  # a real client that notes the SIGTERM handler at each use
        def __init__(self, real):
            self._real = real

        def __getattr__(self, name):
            seen.append(signal.getsignal(signal.SIGTERM))
            return getattr(self._real, name)

    def callers_handler(signum, frame):  # pragma: no cover - never delivered
        pass

    previous = signal.signal(signal.SIGTERM, callers_handler)
    try:
        observation.observe(
            access,
            "local",
            project=gitops.project,
            manifest=gitops.baseline,
            client=Recording(docker_host.connect()),
            gitops=GITOPS,
        )
        assert seen and all(h is callers_handler for h in seen)
        assert signal.getsignal(signal.SIGTERM) is callers_handler

        seen.clear()  # a session that holds the lock: the same
        with DeploySession(
            ProjectOnHost.of(access, "local", gitops.project, None),
            access,
            gitops.baseline,
            client=Recording(docker_host.connect()),
            quiet=True,
            gitops=GITOPS,
        ):
            pass
        assert seen and all(h is callers_handler for h in seen)
        assert signal.getsignal(signal.SIGTERM) is callers_handler
    finally:
        signal.signal(signal.SIGTERM, previous)
