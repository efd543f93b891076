"""Benchmark: one service rolled across a simulated fleet of hosts under load.

    ./inv bench fleet [--args='--hosts 3 --rate 100 --before 10']
        [--service recycling] [--out bench/results/fleet.json]

The fleet is `./inv fleet up`'s (release/devenv/fleet_run.py): N Docker engines, each in
a network namespace of its own behind a real sshd, and a front HAProxy on 127.0.0.1
balancing across the hosts' proxies. Open-loop load (testing/loadgen.py, a child
process, a new connection per request) goes through the front proxy at --rate
req/s; failures are counted strictly (connection errors, timeouts, non-2xx,
HAProxy's own pages); latency is from each request's scheduled time. Cases, in the
same run, on the same fleet and Compose project:

  (a) rolling deploy: `./inv deploy --hosts-file FILE` of a one-line change (a new image
      layer), host by host (batch size 1), each through the health-gated steps
  (b) naive baseline: `docker compose up -d` of the next image on every host at
      once (the same Compose files and variables the deploy uses; `--wait` only so
      the bench knows when it is over)
  (c) Swarm service update: the same change as (a) on a single-node Swarm
      (bench/swarm_case.py; Swarm's own start-first update), under the same load
      through the stack's host-mode proxy

Everything (fleet, registry, images, state) is the bench's own and removed at the
end; a PNG per case goes beside the JSON. Sends traffic only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

from bench import report, swarm_case
from bench.stack import derive, remove_registry
from release.adapters import docker_host
from release.adapters.daemons import free_port
from release.adapters.docker_engine import ensure_engine
from release.adapters.host_access import DockerHostAccess
from release.adapters.registry_local import (
    LocalRegistry,
    LocalRegistryConfig,
)
from release.base.layout import GITOPS, services
from release.devenv import fleet_run as fleet_sim_run
from release.images import build as images
from release.machine import fleet as fleet_sim
from release.machine.fleet import FleetSpec
from release.model.manifest import Manifest, dumps
from release.targets import resolve
from testing.rollout import PATIENT_HEALTH, pushed_entry

ROOT = Path(__file__).resolve().parents[1]

INV = str(ROOT / "inv")
# The proxy gets the same patience as the services (testing/rollout.py's
# PATIENT_HEALTH): on a loaded 2-core machine its default check fails at times.
PATIENT_PROXY_HEALTH = (
    "HEALTHCHECK --interval=5s --timeout=10s --retries=5 --start-period=60s CMD "
    '["python3", "-c", "import urllib.request; '
    "urllib.request.urlopen('http://127.0.0.1:8080/proxy/health', timeout=8)\"]"
)


class Bench:
    """The fleet, the Compose project on it, and the deploys the cases run."""

    def __init__(self, args, workdir: Path, fleet, registry: LocalRegistry):
        self.args = args
        self.workdir = workdir
        self.fleet = fleet
        self.registry = registry
        self.project = f"ecotrack-fleet-bench-{uuid.uuid4().hex[:6]}"
        self.rolling = fleet.hosts_file
        self.at_once = workdir / "at-once.yaml"
        self.at_once.write_text(fleet_sim.hosts_yaml(fleet, len(fleet.hosts)))

    def deploy(self, manifest: Manifest, hosts: Path, phases: list) -> str:
        return inv_deploy(
            self.workdir,
            self.project,
            hosts,
            manifest,
            phases,
            "--port",
            str(self.fleet.proxy_port),
            "--health-timeout",
            str(self.args.health_timeout),
        )

    def naive(self, manifest: Manifest, phases: list) -> str:
        """`docker compose up -d` of the new image on every host at once."""
        service = self.args.service
        errors: list[str] = []

        def one(h) -> None:
            try:
                snapshot = docker_host.snapshot(
                    docker_host.connect(h.endpoint), self.project
                )
                work = self.workdir / f"naive-{h.name}"
                work.mkdir(exist_ok=True)
                compose = resolve.resolve(
                    DockerHostAccess(),
                    "local",
                    self.project,
                    manifest,
                    resolve.read_units("local", GITOPS),
                    snapshot,
                    work,
                    h.endpoint,
                    self.fleet.proxy_port,
                    gitops=GITOPS,
                )[0]
                compose.run("up", "-d", "--no-deps", "--wait", service, timeout=600)
                phases.append((time.time(), f"done {h.name}: compose up -d --wait"))
            except Exception as exc:  # reported below, the bench fails
                errors.append(f"{h.name}: {str(exc)[:300]}")

        threads = [threading.Thread(target=one, args=(h,)) for h in self.fleet.hosts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return "; ".join(errors)


def inv_deploy(workdir, project, hosts, manifest, phases, *extra: str) -> str:
    """`./inv deploy --hosts-file FILE`; each output line's time goes to `phases`.
    Returns "" or the deploy's one-line error."""
    path = workdir / f"manifest-{uuid.uuid4().hex[:6]}.json"
    path.write_text(dumps(manifest))
    cmd = [INV, "deploy", "--project", project, "--hosts-file", str(hosts)]
    cmd += ["--manifest", str(path), *extra]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    errors = []
    for line in proc.stdout:
        if line.strip():
            phases.append((time.time(), line.strip()[:70]))
        if line.startswith("error:"):
            errors.append(line.strip())
    if proc.wait() != 0:
        return errors[0] if errors else f"./inv deploy exited {proc.returncode}"
    return ""


def host_times(phases: list, start: float, end: float) -> dict[str, float]:
    """Seconds per host: rolled one by one, from its first line to the next host's
    (or the end); all at once, from the start to its `done` line."""
    lines = [(t, label.lstrip("» ")) for t, label in phases]  # "» host host-1 (…"
    starts = [(t, label.split()[1]) for t, label in lines if label.startswith("host ")]
    out = {}
    for i, (t, name) in enumerate(starts):
        nxt = starts[i + 1][0] if i + 1 < len(starts) else end
        out[name] = nxt - t
    for t, label in phases:
        if label.startswith("done "):
            out[label.split()[1].rstrip(":")] = t - start
    return out


def wait_healthy(bench: Bench, timeout: float = 300) -> None:
    """Every container of the project on every host healthy: a case starts from a
    fleet at rest (a loaded machine can leave a health check failing for a while)."""
    from release.adapters.netns_engine import docker

    label = f"label=com.docker.compose.project={bench.project}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = [
            docker(h.socket, "ps", "-a", "--filter", label, "--format", "{{.Status}}")
            for h in bench.fleet.hosts
        ]
        lines = [line for s in statuses for line in s.splitlines()]
        if lines and all("(healthy)" in line for line in lines):
            return
        time.sleep(1)
    raise SystemExit(f"bench: not every container became healthy: {lines}")


def wait_serving(port: int, path: str, timeout: float = 120) -> None:
    import http.client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.5)
    raise SystemExit(f"bench: the front proxy does not serve {path}")


def measured(args, name: str, action, port: int, settle=lambda: None) -> dict:
    """`action` under open-loop load on 127.0.0.1:`port`, once `settle` says the
    target is at rest: the windows before and during, per-host times, a plot."""
    path = args.path or f"/{args.service}/guidelines"
    print(f"bench: {name} at {args.rate:.0f} req/s ...", file=sys.stderr, flush=True)
    settle()
    wait_serving(port, path)
    phases: list = []
    window, records, error = report.under_load(
        port, path, args.rate, args.before, lambda start: action(phases)
    )
    start, end = window.pop("start"), window.pop("end")
    row = {
        "case": name,
        "error": error,
        **window,
        "host_s": host_times(phases, start, end),
        "phases": [(t - start, label) for t, label in phases],
    }
    png = Path(args.out).parent / f"fleet-{report.slug(name)}.png"
    row["plot"] = str(
        report.plot_case(
            png,
            f"{name}: {args.rate:.0f} req/s open-loop through the proxy, "
            f"{row['during']['failed']} failed of {row['during']['requests']}",
            records,
            start,
            end,
            phases,
            before=args.before,
        )
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--before", type=float, default=10.0)
    parser.add_argument("--service", default="recycling")
    parser.add_argument("--path", default="", help="default: /<service>/guidelines")
    parser.add_argument(
        "--health-timeout", type=float, default=300.0, help="per host, seconds"
    )
    parser.add_argument("--out", default=str(report.RESULTS / "fleet.json"))
    args = parser.parse_args()
    service = args.service
    ensure_engine()
    why = fleet_sim_run.available()
    if why:
        raise SystemExit(f"bench: no simulated fleet here: {why}")
    workdir = Path(tempfile.mkdtemp(prefix="ecotrack-bench-fleet-", dir="/tmp"))
    os.environ["XDG_STATE_HOME"] = str(workdir / "state")
    registry = LocalRegistry(
        LocalRegistryConfig(port=free_port(), home=workdir / "reg")
    )
    fleet_home = workdir / "fleet"
    made: list[str] = []
    rows: list[dict] = []
    try:
        built = images.build_images(
            [s for s in services() if s.name == service], include_proxy=True, quiet=True
        )
        registry.ensure_running()
        local_proxy = derive(
            built["proxy"], "ecotrack-bench/proxy:patient", PATIENT_PROXY_HEALTH
        )
        made.append(local_proxy)
        proxy = replace(
            pushed_entry(registry, local_proxy, "ecotrack/proxy", "v1", "1.0.0"),
            replicas=1,
        )
        versions = {}
        for tag, version in (("v1", "1.0.0"), ("v2", "1.1.0"), ("v3", "1.2.0")):
            # the one-line change: a new layer (a label) on the same build
            local = derive(
                built[service], f"ecotrack-bench/{service}:{tag}", PATIENT_HEALTH
            )
            made.append(local)
            versions[tag] = pushed_entry(
                registry, local, f"ecotrack/{service}", tag, version
            )

        def manifest(tag: str) -> Manifest:
            return Manifest("local", {"proxy": proxy, service: versions[tag]})

        spec = FleetSpec(
            hosts=args.hosts,
            registry_port=registry.config.port,
            proxy_port=free_port(),
            front_port=free_port(),
        )
        print(f"bench: a fleet of {args.hosts} hosts ...", file=sys.stderr, flush=True)
        fleet, _ = fleet_sim_run.up(spec, fleet_home)
        os.environ["PATH"] = f"{fleet.bin_dir}:{os.environ['PATH']}"
        bench = Bench(args, workdir, fleet, registry)
        print("bench: v1 on every host ...", file=sys.stderr, flush=True)
        error = bench.deploy(manifest("v1"), bench.at_once, [])
        if error:
            raise SystemExit(f"bench: the first install failed: {error}")
        cases = [
            (
                f"(a) rolling deploy 1.0.0 → 1.1.0, {args.hosts} hosts one by one",
                lambda phases: bench.deploy(manifest("v2"), bench.rolling, phases),
            ),
            (
                f"(b) naive compose up -d 1.1.0 → 1.2.0, {args.hosts} hosts at once",
                lambda phases: bench.naive(manifest("v3"), phases),
            ),
        ]
        for name, action in cases:
            rows.append(
                measured(
                    args,
                    name,
                    action,
                    fleet.front_port,
                    lambda: wait_healthy(bench),
                )
            )
        rows.append(
            swarm_case.swarm_update(
                args, workdir, registry.config.port, manifest, measured, inv_deploy
            )
        )
    finally:
        fleet_sim_run.down(fleet_home)
        remove_registry(registry, made)
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(rows, args)
    rolling = [r for r in rows if r["case"].startswith(("(a)", "(c)"))]
    ok = bool(rolling) and all(
        r["during"]["failed"] == 0 and not r["error"] for r in rolling
    )
    report.write_results(
        "fleet",
        {
            "service": service,
            "hosts": args.hosts,
            "rate": args.rate,
            "cases": rows,
            "targets_met": ok,
        },
        Path(args.out),
    )
    return 0 if ok else 1


def print_table(rows: list[dict], args) -> None:
    print(
        f"\nfleet benchmark: {args.hosts} simulated hosts (netns + sshd), "
        f"{args.rate:.0f} req/s open-loop through the front HAProxy, "
        f"{os.cpu_count()} CPUs, loopback\n"
    )
    header = (
        f"{'case':<56} {'failed':>7} {'requests':>9} {'p99 before':>11} "
        f"{'p99 during':>11} {'duration':>9}  time per host"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        before, during = row["before"], row["during"]
        per_host = ", ".join(f"{h} {s:.1f}s" for h, s in row["host_s"].items())
        print(
            f"{row['case']:<56} {during['failed']:>7} {during['requests']:>9} "
            f"{before['p99']:>9.1f}ms {during['p99']:>9.1f}ms "
            f"{row['duration_s']:>8.1f}s  {per_host or '-'}"
        )
        if during["errors"]:
            print(f"{'':<56} errors: {during['errors']}")
        if row["error"]:
            print(f"{'':<56} FAILED: {row['error'][:200]}")
    print("\ntarget: 0 failed requests in (a) and (c)")


if __name__ == "__main__":
    sys.exit(main())
