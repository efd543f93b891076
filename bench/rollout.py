"""Benchmark: requests lost and latency while a service is redeployed (loopback only).

    .venv/bin/python bench/rollout.py [--service recycling] [--rate 120] [--before 15]

A load generator (a separate process, so the deploy's own CPU does not stall it)
sends --rate requests per second through the proxy to one service for the whole run,
counting failures (connection errors, timeouts, 5xx) and latency. For each case it
measures a window before and the window during the action:

  (a) rolling deploy of a new version        ./inv deploy (release.rollout.deploy)
  (b) deploy of a version failing its health check: automatic rollback
  (c) rollback: deploy of the previous manifest entry (what ./inv rollback deploys
      after its manifest commit; the commit itself is not made here)
  (d) naive baseline: `docker compose up -d` of a new image (recreate in place)

Everything runs in a Compose project, registry and state dir of its own, removed at
the end. Bounded: about two minutes; sends traffic only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build-support"))

from release import images, rollout  # noqa: E402
from release.deploy import resolve  # noqa: E402
from release.adapters.docker_engine import ensure_engine  # noqa: E402
from release.adapters.registry_local import (  # noqa: E402
    LocalRegistry,
    LocalRegistryConfig,
)
from release.deploy.events import Reporter  # noqa: E402
from release.manifest import Manifest, ServiceEntry  # noqa: E402
from release.layout import Service  # noqa: E402
from release.adapters import docker_host  # noqa: E402

# -- the load generator (runs as a child process: bench/rollout.py --load ...) --------


def load(port: int, path: str, rate: float, out: str, threads: int = 4) -> None:
    """Sends `rate` requests/s over `threads` keep-alive connections until SIGTERM;
    writes [start time, latency s, ok, error] per request as JSON to `out`."""
    records: list = []
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    interval = threads / rate

    def worker(offset: float) -> None:
        conn = None
        due = time.perf_counter() + offset
        while not stop.is_set():
            started, t0 = time.time(), time.perf_counter()
            error = ""
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                if response.status >= 500:
                    error = f"HTTP {response.status}"
            except (OSError, http.client.HTTPException) as exc:
                error = type(exc).__name__
                conn.close() if conn else None
                conn = None
            records.append((started, time.perf_counter() - t0, not error, error))
            due += interval
            time.sleep(max(0.0, due - time.perf_counter()))

    workers = [
        threading.Thread(target=worker, args=(i * interval / threads,))
        for i in range(threads)
    ]
    for w in workers:
        w.start()
    while not stop.is_set():
        time.sleep(0.1)
    for w in workers:
        w.join()
    Path(out).write_text(json.dumps(records))


class Load:
    def __init__(self, port: int, path: str, rate: float, workdir: Path):
        self.out = workdir / f"load-{uuid.uuid4().hex[:6]}.json"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--load",
                str(port),
                path,
                str(rate),
                str(self.out),
            ]
        )

    def stop(self) -> list:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        return json.loads(self.out.read_text())


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def window(records: list, start: float, end: float) -> dict:
    inside = [r for r in records if start <= r[0] < end]
    latencies = [r[1] * 1000 for r in inside]
    errors: dict[str, int] = {}
    for r in inside:
        if not r[2]:
            errors[r[3]] = errors.get(r[3], 0) + 1
    return {
        "requests": len(inside),
        "failed": sum(errors.values()),
        "errors": errors,
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "rate": len(inside) / max(end - start, 1e-9),
    }


# -- setup: a registry, images with digests, a stack ---------------------------------


class Steps(Reporter):
    """Progress on stderr, and the time each step line was printed."""

    def __init__(self):
        super().__init__(as_json=True)
        self.times: list[tuple[float, str]] = []

    def step(self, service: str, step: str, message: str) -> None:
        self.times.append((time.time(), f"{service} {step}"))
        super().step(service, step, message)

    def info(self, message: str) -> None:
        self.times.append((time.time(), message))
        super().info(message)

    def result(self, result) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def docker(*args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        ["docker", *args],
        input=stdin,
        text=True,
        capture_output=True,
        check=True,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
    ).stdout.strip()


def derive(base: str, ref: str, extra: str = "") -> str:
    docker(
        "build", "-q", "-t", ref, "-", stdin=f"FROM {base}\nLABEL bench={ref}\n{extra}"
    )
    return ref


def entry(registry: LocalRegistry, local: str, repo: str, tag: str, version: str):
    digest = registry.push(local, repo, tag)
    return ServiceEntry(
        image=f"{registry.address}/{repo}:{tag}@{digest}",
        version=version,
        git_sha="0000000",
        deployed_at="2026-01-01T00:00:00Z",
        deployed_by="bench",
        replicas=2,
        feature_flags={},
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", default="recycling")
    parser.add_argument("--path", default="", help="default: /<service>/guidelines")
    parser.add_argument("--rate", type=float, default=120.0)
    parser.add_argument("--before", type=float, default=15.0)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument(
        "--explain", action="store_true", help="print the slowest requests per case"
    )
    args = parser.parse_args()
    service, path = args.service, args.path or f"/{args.service}/guidelines"
    ensure_engine()
    workdir = Path(tempfile.mkdtemp(prefix="ecotrack-bench-rollout-"))
    os.environ["XDG_STATE_HOME"] = str(workdir / "state")
    project = f"ecotrack-rollout-bench-{uuid.uuid4().hex[:6]}"
    port = free_port()
    registry = LocalRegistry(
        LocalRegistryConfig(port=free_port(), home=workdir / "reg")
    )
    made: list[str] = []
    quiet = Steps()  # progress on stderr, nothing on stdout; steps timed
    rows = []
    try:
        built = images.build_images([Service(service)], include_proxy=True, quiet=True)
        registry.ensure_running()
        v1 = entry(registry, built[service], f"ecotrack/{service}", "v1", "1.0.0")
        proxy = entry(registry, built["proxy"], "ecotrack/proxy", "v1", "1.0.0")
        proxy = ServiceEntry(**{**proxy.__dict__, "replicas": 1})
        local = {
            "v2": derive(built[service], f"ecotrack-bench/{service}:v2"),
            "bad": derive(
                built[service],
                f"ecotrack-bench/{service}:bad",
                "HEALTHCHECK --interval=2s --timeout=2s --retries=2 --start-period=1s "
                'CMD ["false"]\n',
            ),
            "v3": derive(built[service], f"ecotrack-bench/{service}:v3"),
        }
        made += local.values()
        v2 = entry(registry, local["v2"], f"ecotrack/{service}", "v2", "1.1.0")
        bad = entry(registry, local["bad"], f"ecotrack/{service}", "bad", "1.2.0")
        v3 = entry(registry, local["v3"], f"ecotrack/{service}", "v3", "1.3.0")

        def manifest(e: ServiceEntry) -> Manifest:
            e = ServiceEntry(**{**e.__dict__, "replicas": args.replicas})
            return Manifest("local", {"proxy": proxy, service: e})

        def deploy(m: Manifest):
            return rollout.deploy(
                "local",
                manifest=m,
                project=project,
                proxy_port=port,
                health_timeout=90,
                reporter=quiet,
            )

        deploy(manifest(v1))

        def naive() -> None:
            compose = resolve.resolve(
                "local",
                project,
                manifest(v3),
                resolve.read_units("local"),
                docker_host.snapshot(docker_host.connect(), project),
                workdir,
                "",
                port,
            )[0]
            compose.run("up", "-d", "--no-deps", "--wait", service, timeout=300)

        def expect_failure() -> None:
            try:
                deploy(manifest(bad))
            except rollout.DeployFailed:
                return
            raise SystemExit("case (b): the bad version was not refused")

        cases = [
            ("(a) rolling deploy 1.0.0 → 1.1.0", lambda: deploy(manifest(v2))),
            ("(b) failing health check → auto rollback", expect_failure),
            ("(c) rollback 1.1.0 → 1.0.0", lambda: deploy(manifest(v1))),
            ("(d) naive compose up -d (recreate)", naive),
        ]
        for name, action in cases:
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
            load_run = Load(port, path, args.rate, workdir)
            time.sleep(args.before + 1)
            start = time.time()
            quiet.times = [(start, "start")]
            action()
            end = time.time()
            time.sleep(2)
            records = load_run.stop()
            before = window(records, start - args.before, start)
            during = window(records, start, end)
            rows.append((name, before, during, end - start))
            if args.explain:
                explain(records, start, end, quiet.times)
    finally:
        ids = docker(
            "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"
        ).split()
        if ids:
            docker("rm", "-f", *ids)
        for kind in ("volume", "network"):
            names = docker(
                kind,
                "ls",
                "-q",
                "--filter",
                f"label=com.docker.compose.project={project}",
            ).split()
            if names:
                subprocess.run(["docker", kind, "rm", *names], capture_output=True)
        registry.stop()
        subprocess.run(["docker", "rmi", "-f", *made], capture_output=True)
        refs = docker("images", "--format", "{{.Repository}}:{{.Tag}}").split()
        pushed = [r for r in refs if r.startswith(registry.address + "/")]
        if pushed:
            subprocess.run(["docker", "rmi", "-f", *pushed], capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(rows, args, path)
    ok = all(r[2]["failed"] == 0 and r[2]["p99"] <= 2 * r[1]["p99"] for r in rows[:3])
    return 0 if ok else 1


def explain(records, start, end, times) -> None:
    """The slowest requests of a case, each with the step that was running."""
    inside = sorted((r for r in records if start <= r[0] < end), key=lambda r: -r[1])
    for t, latency, _ok, error in inside[:12]:
        step = [label for at, label in times if at <= t]
        print(
            f"    {t - start:6.2f}s {latency * 1000:7.1f}ms {error or 'ok':<10} "
            f"after: {step[-1] if step else '-'}",
            file=sys.stderr,
        )


def print_table(rows, args, path) -> None:
    print(
        f"\nrollout benchmark: {args.rate:.0f} req/s to {path} through HAProxy, "
        f"{args.replicas} replicas, {os.cpu_count()} CPUs, loopback\n"
    )
    header = (
        f"{'case':<44} {'failed':>7} {'requests':>9} {'p50 before':>11} "
        f"{'p50 during':>11} {'p99 before':>11} {'p99 during':>11} {'p99 ×':>6} "
        f"{'duration':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, before, during, duration in rows:
        ratio = during["p99"] / before["p99"] if before["p99"] else float("nan")
        print(
            f"{name:<44} {during['failed']:>7} {during['requests']:>9} "
            f"{before['p50']:>9.1f}ms {during['p50']:>9.1f}ms "
            f"{before['p99']:>9.1f}ms {during['p99']:>9.1f}ms {ratio:>6.2f} "
            f"{duration:>8.1f}s"
        )
        if during["errors"]:
            print(f"{'':<44} errors: {during['errors']}")
    rates = [during["rate"] for _, _, during, _ in rows]
    print(
        f"\nload during the cases: {min(rates):.0f}-{max(rates):.0f} req/s "
        f"(mean {statistics.mean(rates):.0f}); targets: 0 failed in (a)-(c) and p99 "
        "during ≤ 2× p99 before"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--load":
        port, path, rate, out = sys.argv[2:6]
        load(int(port), path, float(rate), out)
    else:
        sys.exit(main())
