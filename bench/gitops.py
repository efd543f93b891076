"""Benchmark: the GitOps loop on this machine (loopback only, bounded).

    ./inv bench gitops [--args='--rounds 3 --rate 40']

In a Compose project, registry and state dir of its own (removed at the end), with
the stack of testing/gitops.py (proxy, recycling ×2, auth ×2):

  1. commit-to-deployed latency through the agent (`./inv agent --interval 1`) for a
     one-service manifest change, with load running through the proxy the whole
     time: failed requests during the agent-driven deploys (target 0);
  2. time to detect each kind of drift: induce it, poll `observation.observe` (what
     `./inv drift` and each agent pass run) until it is reported;
  3. canary abort time for a version whose GET /guidelines answers 500.

Prints one table per part. About five minutes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from release.adapters import compose_host
from release.adapters.docker_engine import ensure_engine
from release.adapters.registry_local import (
    LocalRegistry,
    LocalRegistryConfig,
)
from release.base import console
from release.base.layout import Service
from release.gitops.secrets import ensure_keys, keys_dir, rotate
from release.images import build as images
from release.verify import drift
from testing.agent_repo import AgentProcess, commit_manifest, make_gitops_repo
from testing.gitops import SERVICE, GitopsStack, Load, Quiet, docker, free_port

ROOT = Path(__file__).resolve().parents[1]


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def agent_latency(stack: GitopsStack, workdir: Path, rounds: int, rate: float):
    repo = workdir / "remote"
    c0 = make_gitops_repo(repo, stack.baseline, "baseline")
    agent = AgentProcess(stack, repo, workdir / "agent")
    rows = []
    try:
        agent.start()
        agent.wait(lambda s: s["synced_commit"] == c0, 120, "first sync")
        versions = ["v2", "v1"] * rounds
        with Load(stack.port, rate=rate) as load:
            time.sleep(3)
            for i, version in enumerate(versions[:rounds]):
                log(f"agent round {i + 1}: recycling → {version}")
                failures_before = len(load.failures)
                requests_before = len(load.results)
                commit = commit_manifest(
                    repo, stack.manifest(version), f"recycling {version}"
                )
                pushed = time.monotonic()
                want = stack.entries[version].image.split("@")[1]
                agent.wait(
                    lambda s: s["synced_commit"] == commit,
                    300,
                    f"round {i + 1} deployed",
                )
                deployed = time.monotonic() - pushed
                assert {c.digest for c in stack.containers()} == {want}
                attempt = next(
                    e
                    for e in agent.events("deploy_finished")
                    if e.get("commit") == commit
                )
                rows.append(
                    (
                        i + 1,
                        version,
                        deployed,
                        attempt["duration_s"],
                        len(load.results) - requests_before,
                        len(load.failures) - failures_before,
                    )
                )
            time.sleep(2)
        total = (len(load.results), len(load.failures))
    finally:
        agent.stop()
    return rows, total


def detect(stack, agent, kind, induce, undo=None, timeout=90.0, **observe):
    """Seconds from inducing the drift until a polling check reports it, and until
    the running agent's /status does (None: the agent is not asked)."""
    context = induce()
    t0 = time.monotonic()
    checks = 0
    by_check = by_agent = check_took = None
    try:
        while time.monotonic() - t0 < timeout:
            if by_check is None:
                started = time.monotonic()
                report = stack.observe(**observe).report
                checks += 1
                check_took = time.monotonic() - started
                if kind in {f.kind for f in report.findings}:
                    by_check = time.monotonic() - t0
            if agent is not None and by_agent is None:
                status = agent.status() or {}
                if kind in {f["kind"] for f in status.get("findings", [])}:
                    by_agent = time.monotonic() - t0
            if by_check is not None and (agent is None or by_agent is not None):
                break
            time.sleep(0.1)
        return kind, by_check, by_agent, check_took, checks
    finally:
        if undo:
            undo(context)
        stack.reset()


def drift_times(stack: GitopsStack, workdir: Path) -> list[tuple]:
    rows = []
    repo = workdir / "remote-drift"
    c0 = make_gitops_repo(repo, stack.baseline, "baseline")
    agent = AgentProcess(stack, repo, workdir / "agent-drift")
    v1 = stack.entries["v1"].image

    def image():
        stack.deploy(stack.manifest("v2"), services=[SERVICE])

    def missing():
        docker("rm", "-f", stack.containers()[0].id)

    def extra():
        stack.compose().run(*compose_host.scale_up_args(SERVICE, 3), timeout=300)

    def unmanaged():
        stack.run_by_hand(v1)

    tree = workdir / "gitops-changed"

    def config():
        shutil.rmtree(tree, ignore_errors=True)
        shutil.copytree(ROOT / "gitops", tree)
        local = tree / "environments" / "local" / "compose.yaml"
        local.write_text(
            local.read_text() + "  recycling:\n    stop_grace_period: 20s\n"
        )

    def environment():
        before = ensure_keys(stack.project)
        rotate(stack.project)
        return before

    def restore(before):
        for name, data in before.items():
            (keys_dir(stack.project) / name).write_bytes(data)

    def stopped():
        docker("stop", "-t", "5", stack.containers()[0].id)

    def unhealthy():
        c = stack.containers()[0]
        docker("exec", "-u", "root", c.id, "chmod", "444", "/data/recycling.db")

    # (kind, induce, undo, the check's desired side, ask the agent): config and
    # flags drift come from the desired side (git); an agent would deploy them.
    cases = [
        (drift.IMAGE, image, None, {}, True),
        (drift.MISSING, missing, None, {}, True),
        (drift.EXTRA, extra, None, {}, True),
        (drift.UNMANAGED, unmanaged, None, {}, True),
        (drift.CONFIG, config, None, {"gitops_dir": tree}, False),
        (
            drift.FLAGS,
            lambda: None,
            None,
            {"manifest": stack.manifest(flags={SERVICE: {"new_ui": "on"}})},
            False,
        ),
        (drift.ENVIRONMENT, environment, restore, {}, True),
        (drift.STOPPED, stopped, None, {}, True),
        (drift.UNHEALTHY, unhealthy, None, {}, True),
    ]
    try:
        agent.start()
        agent.wait(lambda s: s["synced_commit"] == c0, 120, "the drift agent synced")
        for kind, induce, undo, observe, ask in cases:
            log(f"drift: {kind}")
            agent.wait(lambda s: s["sync"] == "IN_SYNC", 120, "in sync again")
            rows.append(
                detect(stack, agent if ask else None, kind, induce, undo, **observe)
            )
    finally:
        agent.stop()
    return rows


def canary_abort(stack: GitopsStack, rate: float):
    with Load(stack.port, rate=rate) as load:
        time.sleep(2)
        started = time.monotonic()
        result = stack.canary(
            stack.manifest("5xx"),
            Quiet(),
            window=60,
            max_error_rate=0.01,
            min_requests=10,
        )
        took = time.monotonic() - started
        time.sleep(2)
    return result, took, len(load.results), len(load.failures)


def main() -> int:
    console.out = console.err  # progress on stderr: stdout is the report
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=40.0)
    args = parser.parse_args()
    ensure_engine()
    workdir = Path(tempfile.mkdtemp(prefix="ecotrack-bench-gitops-"))
    os.environ["XDG_STATE_HOME"] = str(workdir / "state")
    registry = LocalRegistry(LocalRegistryConfig(port=free_port(), home=workdir / "r"))
    stack = GitopsStack(registry, workdir)
    started = time.monotonic()
    try:
        log("building images with Pants, starting a registry, deploying the stack")
        built = images.build_images(
            [Service(SERVICE), Service("auth")], include_proxy=False, quiet=True
        )
        registry.ensure_running()
        stack.setup(built)
        setup = time.monotonic() - started
        latency, load_total = agent_latency(stack, workdir, args.rounds, args.rate)
        stack.reset()
        drifts = drift_times(stack, workdir)
        canary_result = canary_abort(stack, args.rate)
    finally:
        stack.down()
        registry.stop()
        refs = docker("images", "--format", "{{.Repository}}:{{.Tag}}").split()
        pushed = [r for r in refs if r.startswith(registry.config.address + "/")]
        if pushed:
            docker("rmi", "-f", *pushed, check=False)
        shutil.rmtree(workdir, ignore_errors=True)
    report(args, setup, latency, load_total, drifts, canary_result)
    return 0


def report(args, setup, latency, load_total, drifts, canary_result) -> None:
    print(
        f"\nGitOps benchmark: {os.cpu_count()} CPUs, loopback, stack = proxy + "
        f"recycling ×2 + auth ×2 (setup {setup:.0f}s)\n"
    )
    print(
        "1. commit → deployed through the agent (--interval 1), one-service change, "
        f"{args.rate:.0f} req/s through the proxy"
    )
    header = f"{'round':>5} {'to':>4} {'commit→deployed':>16} {'rollout':>8} "
    header += f"{'requests':>9} {'failed':>7}"
    print(header)
    print("-" * len(header))
    for n, version, deployed, rollout_s, requests, failed in latency:
        print(
            f"{n:>5} {version:>4} {deployed:>15.1f}s {rollout_s:>7.1f}s "
            f"{requests:>9} {failed:>7}"
        )
    if latency:
        print(
            f"median commit→deployed {statistics.median(r[2] for r in latency):.1f}s; "
            f"failed requests during agent-driven deploys: {load_total[1]} of "
            f"{load_total[0]} (target 0)"
        )
    print(
        "\n2. time to detect each kind of drift: by a polling check (what ./inv drift "
        "runs) and by the agent (--interval 1, its /status)"
    )
    header = f"{'kind':<18} {'by the check':>13} {'by the agent':>13} {'one check':>10}"
    print(header)
    print("-" * len(header))

    def secs(value) -> str:
        return "n/a" if value is None else f"{value:.1f}s"

    for kind, by_check, by_agent, check, _checks in drifts:
        agent_cell = secs(by_agent) if kind not in ("config", "flags") else "(deploys)"
        print(f"{kind:<18} {secs(by_check):>13} {agent_cell:>13} {secs(check):>10}")
    print(
        "config and flags drift start in git: the agent deploys them instead of "
        "reporting; unhealthy waits for Docker's health check (5s × 3 retries)"
    )
    result, took, requests, failed = canary_result
    print("\n3. canary of a version answering 5xx on GET /recycling/guidelines")
    print(
        f"decision: {result.decision} after {took:.1f}s in all "
        f"({result.observed_s:.1f}s of observation); {result.reason}"
    )
    print(
        f"canary saw {result.requests} requests through the proxy "
        f"({result.errors} failed), its /metrics {result.own_requests} "
        f"({result.own_errors} 5xx); clients: {failed} failed of {requests} "
        "during the run (the canary's share until the abort)"
    )


if __name__ == "__main__":
    sys.exit(main())
