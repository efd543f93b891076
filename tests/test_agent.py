"""The pull-based agent (`./inv agent`) against a scratch git repository acting as the
remote and the stack the rollout engine deployed: it deploys a pushed commit, does
not loop on a failing one (not even after a restart), adopts a reverted branch,
self-heals a stopped container, and notifies a webhook."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from testing.agent_repo import AgentProcess, commit_manifest, make_gitops_repo
from testing.gitops import SERVICE, Load, docker
from testing.webhook import WebhookReceiver

ROOT = Path(__file__).resolve().parents[1]


def digests(stack) -> set[str]:
    return {c.digest for c in stack.containers()}


def service(status: dict, name: str = SERVICE) -> dict:
    return next(s for s in status["services"] if s["service"] == name)


def attempts_for(agent: AgentProcess, commit: str) -> list[dict]:
    return [e for e in agent.events("deploy_started") if e.get("commit") == commit]


def test_deploys_a_pushed_commit_and_does_not_loop_on_a_failing_one(gitops, tmp_path):
    receiver = WebhookReceiver()
    repo = tmp_path / "remote"
    c0 = make_gitops_repo(repo, gitops.baseline, "release(local): baseline")
    agent = AgentProcess(
        gitops,
        repo,
        tmp_path / "agent",
        env={"ECOTRACK_SLACK_WEBHOOK_URL": receiver.url},
    )
    try:
        agent.start()
        # Healthy as Docker sees it: a deploy lets replicas in on the image's own
        # check run early, Docker's first scheduled check may still be pending.
        agent.wait(
            lambda s: s["synced_commit"] == c0
            and s["sync"] == "IN_SYNC"
            and service(s)["health"] == "HEALTHY",
            120,
            "the first sync, healthy",
        )

        # A pushed commit is deployed, without a failed request.
        with Load(gitops.port) as load:
            c1 = commit_manifest(
                repo, gitops.manifest("v2"), "release(local): recycling 1.1.0"
            )
            pushed = time.monotonic()
            status = agent.wait(
                lambda s: s["synced_commit"] == c1 and s["sync"] == "IN_SYNC",
                240,
                "the pushed commit deployed",
            )
            latency = time.monotonic() - pushed
            time.sleep(1)
        assert load.failures == [], load.failures[:5]
        assert len(load.results) > 50
        assert digests(gitops) == {gitops.entries["v2"].image.split("@")[1]}
        assert service(status)["version"] == "1.1.0"
        assert service(status)["last_deploy"]["commit"] == c1
        assert service(status, "auth")["last_deploy"] is None  # untouched
        print(f"commit-to-deployed: {latency:.1f}s")

        # A failing commit: rolled back once, the old version keeps serving, and the
        # agent waits instead of retrying.
        c2 = commit_manifest(
            repo, gitops.manifest("unhealthy"), "release(local): recycling 1.2.0"
        )
        status = agent.wait(
            lambda s: s["failed_commit"] == c2, 240, "the failing commit recorded"
        )
        assert status["failed_services"] == [SERVICE]
        assert digests(gitops) == {gitops.entries["v2"].image.split("@")[1]}
        assert len(gitops.containers()) == 2
        time.sleep(6)  # six more passes of the loop
        assert len(attempts_for(agent, c2)) == 1
        waits = [
            e
            for e in agent.events("decision")
            if e["action"] == "wait" and e["commit"] == c2
        ]
        assert waits, "the agent should say it waits"

        # A restart does not retry it either: the state is on disk.
        assert agent.stop() == 0
        agent.start()
        agent.wait(lambda s: s["head"] == c2, 60, "the restarted agent's first pass")
        time.sleep(4)
        assert len(attempts_for(agent, c2)) == 1
        state = json.loads((tmp_path / "agent" / "state.json").read_text())
        assert state["failed_commit"] == c2 and state["synced_commit"] == c1

        # Reverting the change brings the branch back to what runs: adopted.
        c3 = commit_manifest(
            repo, gitops.manifest("v2"), "Revert release(local): recycling 1.2.0"
        )
        status = agent.wait(
            lambda s: s["synced_commit"] == c3 and not s["failed_commit"],
            60,
            "the revert adopted",
        )
        assert not attempts_for(agent, c3)
    finally:
        agent.stop()
        receiver.close()

    texts = receiver.texts()
    assert "[local] deploy started: 1 service(s): recycling" in texts
    assert any(t.startswith("[local] deploy succeeded: recycling") for t in texts)
    assert any(t.startswith("[local] automatic rollback: recycling") for t in texts)
    assert any(t.startswith("[local] deploy failed: recycling failed") for t in texts)
    started = [t for t in texts if "deploy started" in t]
    assert len(started) == 2, texts  # c1 and c2, once each
    logged = agent.events()
    assert all("ts" in e and "event" in e for e in logged)


def test_self_heals_a_stopped_container(gitops, tmp_path):
    repo = tmp_path / "remote"
    c0 = make_gitops_repo(repo, gitops.baseline)
    # One pass with --once: in sync, exit 0, state written.
    once = subprocess.run(
        [
            str(ROOT / "inv"),
            "agent",
            "--env",
            "local",
            "--repo",
            str(repo),
            "--project",
            gitops.project,
            "--once",
            "--listen",
            "",
            "--state-dir",
            str(tmp_path / "agent"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert once.returncode == 0, once.stdout + once.stderr
    state = json.loads((tmp_path / "agent" / "state.json").read_text())
    assert state["synced_commit"] == c0

    receiver = WebhookReceiver()
    agent = AgentProcess(
        gitops,
        repo,
        tmp_path / "agent",
        "--self-heal",
        env={"ECOTRACK_SLACK_WEBHOOK_URL": receiver.url},
    )
    try:
        agent.start()
        agent.wait(lambda s: s["sync"] == "IN_SYNC", 60, "in sync")
        victim = gitops.containers()[0]
        docker("stop", "-t", "5", victim.id)
        stopped = time.monotonic()
        status = agent.wait(
            lambda s: any(a["trigger"] == "self-heal" for a in s["attempts"])
            and s["sync"] == "IN_SYNC"
            and service(s)["replicas"] == 2
            and service(s)["health"] == "HEALTHY",
            180,
            "the service healed",
        )
        print(f"stopped-to-healed: {time.monotonic() - stopped:.1f}s")
        heals = [a for a in status["attempts"] if a["trigger"] == "self-heal"]
        assert heals and heals[-1]["result"] == "ok"
        assert SERVICE in heals[-1]["services"]
        assert victim.id not in {c.id for c in gitops.containers()}
        (found,) = agent.events("drift_found")
        assert {f["kind"] for f in found["findings"]} == {"stopped", "missing_replicas"}
        assert "plan for local" not in agent.output()  # stdout is JSON lines only
    finally:
        agent.stop()
        receiver.close()
    assert any(t.startswith("[local] drift found") for t in receiver.texts())
