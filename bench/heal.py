"""Benchmark: a heal on a busy host (loopback only).

    ./inv bench heal [--args='--rate 120 --burners 3 --before 10']
        [--out bench/results/heal.json]

A stack of the proxy and one service (2 replicas) of its own. One replica is stopped
by hand, CPU burners spin on the machine (each ends by itself), and `./inv deploy`'s
deploy heals the service under open-loop load through the proxy (testing/loadgen.py in
a process of its own, a new connection per request, failures counted strictly).
Meanwhile the proxy's own view (its admin socket) is sampled every 0.2 s: how many of
the service's replicas it has UP.

  (h1) heal: the surviving replica is sound
  (h2) heal: the surviving replica's health checks are slowed (each outlasts
       Docker's timeout, so Docker calls it unhealthy) while it serves as before

Targets: 0 failed, and never fewer replicas UP during the heal than before it.
Everything runs in a Compose project, registry and state dir of its own, removed at
the end; a PNG per case goes beside the JSON.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench import report
from bench.stack import BenchStack, Steps, derive
from release.adapters import docker_host
from release.adapters.host_access import DockerHostAccess
from release.adapters.proxy import Proxy, socket_from_here
from release.base.layout import GITOPS, services
from release.images import build as images
from release.model.manifest import Manifest, ServiceEntry
from release.targets.host import rollout
from testing.commands import docker
from testing.rollout import SLOW_FILE, SLOWABLE_HEALTH, pushed_entry

ROOT = Path(__file__).resolve().parents[1]

BURN_SECONDS = 300  # a burner ends by itself, whatever happens to the bench


class Burners:
    def __init__(self, n: int):
        code = (
            f"import time\nend = time.time() + {BURN_SECONDS}\n"
            "while time.time() < end: pass"
        )
        self.procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]

    def stop(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()


class UpSampler:
    """How many of `backend`'s replicas the proxy has UP, every 0.2 s."""

    def __init__(self, project: str, backend: str):
        client = docker_host.connect()
        (proxy,) = [
            c
            for c in docker_host.snapshot(client, project, "proxy").containers
            if c.state == "running"
        ]
        container = client.containers.get(proxy.id)
        self.proxy = Proxy(container, socket_path=socket_from_here(container))
        self.backend = backend
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> int:
        return sum(s.up for s in self.proxy.servers(self.backend))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self.now()))
            self._stop.wait(0.2)

    def start(self) -> "UpSampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", default="recycling")
    parser.add_argument("--rate", type=float, default=120.0)
    parser.add_argument("--burners", type=int, default=3)
    parser.add_argument("--before", type=float, default=10.0)
    parser.add_argument("--out", default=str(report.RESULTS / "heal.json"))
    args = parser.parse_args()
    service, path, out = args.service, f"/{args.service}/guidelines", Path(args.out)
    bench = BenchStack("heal")
    project, port, registry, made = (
        bench.project,
        bench.port,
        bench.registry,
        bench.made,
    )
    steps = Steps()
    rows: list[dict] = []
    try:
        wanted = [s for s in services() if s.name == service]
        built = images.build_images(wanted, include_proxy=True, quiet=True)
        registry.ensure_running()
        proxy = pushed_entry(registry, built["proxy"], "ecotrack/proxy", "v1", "1.0.0")
        local = derive(
            built[service], f"ecotrack-bench/{service}:slowable", SLOWABLE_HEALTH
        )
        made.append(local)
        release = pushed_entry(
            registry, local, f"ecotrack/{service}", "slowable", "1.0.0"
        )
        m = Manifest(
            "local",
            {
                "proxy": ServiceEntry(**{**proxy.__dict__, "replicas": 1}),
                service: release,
            },
        )

        def deploy() -> None:
            rollout.deploy(
                DockerHostAccess(),
                "local",
                manifest=m,
                project=project,
                proxy_port=port,
                health_timeout=180,
                reporter=steps,
                gitops=GITOPS,
            )

        print("bench: deploying the stack ...", file=sys.stderr, flush=True)
        deploy()
        for name, slowed in (
            ("(h1) heal", False),
            ("(h2) heal, survivor's checks slowed", True),
        ):
            rows.append(
                case(
                    name, slowed, project, service, path, port, args, steps, deploy, out
                )
            )
    finally:
        bench.remove()
    print_table(rows, args)
    ok = bool(rows) and all(
        r["during"]["failed"] == 0 and r["up_min"] >= r["up_before"] for r in rows
    )
    report.write_results(
        "heal",
        {
            "service": service,
            "rate": args.rate,
            "burners": args.burners,
            "cases": rows,
            "targets_met": ok,
        },
        out,
    )
    return 0 if ok else 1


def case(name, slowed, project, service, path, port, args, steps, deploy, out) -> dict:
    """One heal: a replica stopped, the survivor optionally slowed, burners on."""
    print(f"bench: {name} at {args.rate:.0f} req/s ...", file=sys.stderr, flush=True)
    client = docker_host.connect()
    live = [
        c
        for c in docker_host.snapshot(client, project, service).containers
        if c.state == "running"
    ]
    stopped, survivor = live[0], live[-1]
    docker("stop", stopped.id)
    if slowed:
        docker("exec", survivor.id, "touch", SLOW_FILE)
        deadline = time.monotonic() + 60
        while docker_host.inspect(client, survivor.id).health != "unhealthy":
            if time.monotonic() > deadline:
                raise SystemExit(f"{name}: the survivor never turned unhealthy")
            time.sleep(0.5)
    sampler = UpSampler(project, service)
    # What the heal finds: the proxy's checks (1 s apart, 2 to fall) have seen the
    # stopped replica go before the count is taken.
    deadline = time.monotonic() + 30
    while sampler.now() != len(live) - 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    up_before = sampler.now()
    burners = Burners(args.burners)
    sampler.start()
    try:

        def act(start: float) -> None:
            steps.times = [(start, "start")]
            deploy()

        window, records, _ = report.under_load(port, path, args.rate, args.before, act)
    finally:
        sampler.stop()
        burners.stop()
        if slowed:
            docker("exec", survivor.id, "rm", "-f", SLOW_FILE)
    start, end = window.pop("start"), window.pop("end")
    during = [n for at, n in sampler.samples if start <= at <= end]
    row = {
        "case": name,
        **window,
        "up_before": up_before,
        "up_min": min(during) if during else 0,
        "up_after": sampler.samples[-1][1] if sampler.samples else 0,
        "survivor_kept": any(
            c.id == survivor.id and c.state == "running"
            for c in docker_host.snapshot(client, project, service).containers
        ),
        "phases": [(t - start, label) for t, label in steps.times],
    }
    png = out.parent / f"heal-{report.slug(name)}.png"
    row["plot"] = str(
        report.plot_case(
            png,
            f"{name}: {args.rate:.0f} req/s open-loop, {args.burners} CPU burners, "
            f"{row['during']['failed']} failed of {row['during']['requests']}",
            records,
            start,
            end,
            steps.times[1:],
            before=args.before,
        )
    )
    return row


def print_table(rows, args) -> None:
    print(
        f"\nheal benchmark: open-loop {args.rate:.0f} req/s through HAProxy, "
        f"{args.burners} CPU burners, {os.cpu_count()} CPUs, loopback\n"
    )
    header = (
        f"{'case':<40} {'failed':>7} {'requests':>9} {'p99 before':>11} "
        f"{'p99 during':>11} {'UP before':>10} {'UP min':>7} {'UP after':>9} "
        f"{'kept':>5} {'duration':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        b, d = r["before"], r["during"]
        print(
            f"{r['case']:<40} {d['failed']:>7} {d['requests']:>9} "
            f"{b['p99']:>9.1f}ms {d['p99']:>9.1f}ms {r['up_before']:>10} "
            f"{r['up_min']:>7} {r['up_after']:>9} {str(r['survivor_kept']):>5} "
            f"{r['duration_s']:>8.1f}s"
        )
        if d["errors"]:
            print(f"{'':<40} errors: {d['errors']}")
    print("\ntargets: 0 failed, and UP min ≥ UP before (never fewer replicas serving)")


if __name__ == "__main__":
    sys.exit(main())
