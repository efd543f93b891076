"""Benchmark: requests lost and latency while services are redeployed (loopback only).

    ./inv bench rollout [--args='--service recycling --rates 120,300']
        [--before 10] [--parts cases,full] [--out bench/results/rollout.json]

The open-loop load generator (testing/loadgen.py, in a child process so the deploy's own
CPU does not stall it; a new connection per request) sends each rate's requests per
second through the proxy to one service on a fixed schedule, whatever the responses,
and counts failures strictly (connection errors, timeouts, non-2xx, responses not
from the service, e.g. HAProxy's own pages). Latency is from each request's scheduled
time. For each rate and case it measures a window before and the window during:

  (a) rolling deploy of a new version: ./inv deploy (targets/host/rollout.py)
  (b) deploy of a version failing its health check: automatic rollback
  (c) rollback: deploy of the previous manifest entry (what ./inv rollback deploys
      after its manifest commit; the commit itself is not made here)
  (d) naive baseline: `docker compose up -d` of a new image (recreate in place)

`full` (all under the same load, at the first rate): each of the 6 units' services
rolled alone, one deploy each (the slowest is the reference; waste brings its
worker), then one deploy of all of them with the default --parallel (or the given
one), and, if that was more than one lane, one with --parallel 1 (one after
another). Run only this part with `--parts full --rates 120`.

Everything runs in a Compose project, registry and state dir of its own, removed at
the end; a PNG per case goes beside the JSON. Sends traffic only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

from bench import report
from bench.stack import BenchStack, Steps, derive
from release.adapters import docker_host
from release.adapters.host_access import DockerHostAccess
from release.base.layout import GITOPS, services
from release.engine.apply import default_parallel
from release.images import build as images
from release.model.manifest import Manifest, ServiceEntry
from release.targets import resolve
from release.targets.host import rollout
from testing.rollout import pushed_entry

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", default="recycling")
    parser.add_argument("--path", default="", help="default: /<service>/guidelines")
    parser.add_argument("--rates", default="120,300", help="req/s, comma-separated")
    parser.add_argument("--before", type=float, default=10.0)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--keepalive", type=float, default=0.0)
    parser.add_argument("--parts", default="cases,full")
    parser.add_argument(
        "--parallel", type=int, default=0, help="lanes of (e); 0: the deploy's default"
    )
    parser.add_argument("--out", default=str(report.RESULTS / "rollout.json"))
    parser.add_argument(
        "--explain", action="store_true", help="print the slowest requests per case"
    )
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    parts = set(args.parts.split(","))
    service, path = args.service, args.path or f"/{args.service}/guidelines"
    out = Path(args.out)
    bench = BenchStack("rollout")
    workdir, project, port = bench.workdir, bench.project, bench.port
    registry, made = bench.registry, bench.made
    quiet = Steps()  # progress on stderr, nothing on stdout; steps timed
    rows: list[dict] = []
    full: dict = {}
    names = [s.name for s in services()]
    try:
        built = images.build_images(services(), include_proxy=True, quiet=True)
        registry.ensure_running()
        proxy = pushed_entry(registry, built["proxy"], "ecotrack/proxy", "v1", "1.0.0")
        proxy = ServiceEntry(**{**proxy.__dict__, "replicas": 1})
        v: dict[str, dict[str, ServiceEntry]] = {"v1": {}, "v2": {}, "v3": {}}
        for name in names:
            v["v1"][name] = pushed_entry(
                registry, built[name], f"ecotrack/{name}", "v1", "1.0.0"
            )
            for tag, version in (("v2", "1.1.0"), ("v3", "1.3.0")):
                local = derive(built[name], f"ecotrack-bench/{name}:{tag}")
                made.append(local)
                v[tag][name] = pushed_entry(
                    registry, local, f"ecotrack/{name}", tag, version
                )
        local_bad = derive(
            built[service],
            f"ecotrack-bench/{service}:bad",
            "HEALTHCHECK --interval=2s --timeout=2s --retries=2 --start-period=1s "
            'CMD ["false"]\n',
        )
        made.append(local_bad)
        bad = pushed_entry(registry, local_bad, f"ecotrack/{service}", "bad", "1.2.0")

        def manifest(**changed: ServiceEntry) -> Manifest:
            entries = {**v["v1"], **changed}
            return Manifest(
                "local",
                {
                    "proxy": proxy,
                    **{
                        n: ServiceEntry(**{**e.__dict__, "replicas": args.replicas})
                        for n, e in entries.items()
                    },
                },
            )

        current = manifest()

        def deploy(m: Manifest, only: tuple[str, ...] = (), parallel: int = 0):
            nonlocal current
            result = rollout.deploy(
                DockerHostAccess(),
                "local",
                services=only,
                manifest=m,
                project=project,
                proxy_port=port,
                health_timeout=90,
                reporter=quiet,
                parallel=parallel,
                gitops=GITOPS,
            )
            current = m
            return result

        print("bench: deploying every service at v1 ...", file=sys.stderr, flush=True)
        deploy(current)

        def naive() -> None:
            compose = resolve.resolve(
                DockerHostAccess(),
                "local",
                project,
                manifest(**{service: v["v3"][service]}),
                resolve.read_units("local", GITOPS),
                docker_host.snapshot(docker_host.connect(), project),
                workdir,
                "",
                port,
                gitops=GITOPS,
            )[0]
            compose.run("up", "-d", "--no-deps", "--wait", service, timeout=300)

        def expect_failure() -> None:
            try:
                deploy(manifest(**{service: bad}), (service,))
            except rollout.DeployFailed:
                return
            raise SystemExit("case (b): the bad version was not refused")

        cases = [
            (
                "(a) rolling deploy 1.0.0 → 1.1.0",
                lambda: deploy(manifest(**{service: v["v2"][service]}), (service,)),
            ),
            ("(b) failing health check → auto rollback", expect_failure),
            ("(c) rollback 1.1.0 → 1.0.0", lambda: deploy(manifest(), (service,))),
            ("(d) naive compose up -d (recreate)", naive),
        ]

        def measured(name: str, rate: float, action) -> dict:
            print(f"bench: {name} at {rate:.0f} req/s ...", file=sys.stderr, flush=True)

            def act(start: float) -> None:
                quiet.times = [(start, "start")]
                action()

            window, records, _ = report.under_load(
                port, path, rate, args.before, act, keepalive=args.keepalive
            )
            start, end = window.pop("start"), window.pop("end")
            row = {
                "case": name,
                **window,
                "phases": [(t - start, label) for t, label in quiet.times],
            }
            png = out.parent / f"rollout-{int(rate)}-{report.slug(name)}.png"
            row["plot"] = str(
                report.plot_case(
                    png,
                    f"{name}: {rate:.0f} req/s open-loop to {path}, "
                    f"{row['during']['failed']} failed of {row['during']['requests']}",
                    records,
                    start,
                    end,
                    quiet.times[1:],
                    before=args.before,
                )
            )
            if args.explain:
                explain(records, start, end, quiet.times)
            return row

        def full_deploys(full: dict) -> list[dict]:
            # Each single roll under the same open-loop load as the full deploys, so
            # the ratio compares like with like (the load takes CPU on a 2-core host).
            singles = full.setdefault("singles_s", {})
            rolled: list[dict] = []
            for name in names:
                m = manifest(**{n: v["v2"][n] for n in singles} | {name: v["v2"][name]})
                row = measured(
                    f"(s) {name} alone", rates[0], lambda: deploy(m, (name,))
                )
                rolled.append(row)
                singles[name] = row["duration_s"]
            lanes = args.parallel or default_parallel()
            full["parallel"] = lanes
            row = measured(
                f"(e) full deploy of every unit, --parallel {lanes}",
                rates[0],
                lambda: deploy(manifest(**v["v3"]), parallel=lanes),
            )
            fulls = [row]
            if lanes > 1:  # with one lane already, not measured twice
                fulls.append(
                    measured(
                        "(f) full deploy of every unit, --parallel 1",
                        rates[0],
                        lambda: deploy(manifest(), parallel=1),
                    )
                )
            slowest = max(singles, key=singles.get)
            full |= {
                "singles_s": singles,
                "slowest": slowest,
                "slowest_s": singles[slowest],
                "full_parallel_s": row["duration_s"],
                "full_sequential_s": fulls[-1]["duration_s"],
                "ratio": row["duration_s"] / singles[slowest],
            }
            return [*rolled, *fulls]

        if "cases" in parts:
            for rate in rates:
                for name, action in cases:
                    rows.append(measured(name, rate, action))
            deploy(manifest())  # (d) left the service on v3 outside the deploy

        if "full" in parts:
            try:
                rows += full_deploys(full)
            except rollout.DeployFailed as exc:
                full["error"] = str(exc)
                print(f"bench: full deploy failed: {exc}", file=sys.stderr)

    finally:
        bench.remove()
    print_table(rows, args, path)
    if full:
        print_full(full)
    gated = [r for r in rows if r["case"][:3] in ("(a)", "(b)", "(c)")]
    ok = all(
        r["during"]["failed"] == 0 and r["during"]["p99"] <= 2 * r["before"]["p99"]
        for r in gated
    ) and (not full or full.get("ratio", 9) <= 1.5)
    report.write_results(
        "rollout",
        {
            "service": service,
            "path": path,
            "rates": rates,
            "keepalive": args.keepalive,
            "cases": rows,
            "full": full,
            "targets_met": ok,
        },
        out,
    )
    return 0 if ok else 1


def print_full(full: dict) -> None:
    if "error" in full:
        print(
            f"\nfull deploy of every unit FAILED: {full['error'].splitlines()[0]}; "
            "singles: "
            + ", ".join(f"{k} {x:.1f}s" for k, x in full.get("singles_s", {}).items())
        )
        return
    sequential = (
        f", {full['full_sequential_s']:.1f}s with --parallel 1"
        if full["parallel"] > 1
        else ""
    )
    print(
        f"\nfull deploy of every unit: {full['full_parallel_s']:.1f}s with --parallel "
        f"{full['parallel']}{sequential}; "
        f"slowest single-service roll {full['slowest']} {full['slowest_s']:.1f}s "
        f"(×{full['ratio']:.2f}, target ≤ 1.5); singles: "
        + ", ".join(f"{k} {x:.1f}s" for k, x in full["singles_s"].items())
    )


def explain(records, start, end, times) -> None:
    """The slowest requests of a case, each with the step that was running."""
    inside = sorted(
        (r for r in records if start <= r.at < end), key=lambda r: -r.latency
    )
    for r in inside[:12]:
        step = [label for at, label in times if at <= r.at]
        print(
            f"    {r.at - start:6.2f}s {r.latency * 1000:7.1f}ms {r.error or 'ok':<10} "
            f"after: {step[-1] if step else '-'}",
            file=sys.stderr,
        )


def print_table(rows, args, path) -> None:
    print(
        f"\nrollout benchmark: open-loop to {path} through HAProxy (keep-alive share "
        f"{args.keepalive}), {args.replicas} replicas, {os.cpu_count()} CPUs, "
        "loopback\n"
    )
    header = (
        f"{'case':<50} {'rate':>5} {'failed':>7} {'requests':>9} {'p50 before':>11} "
        f"{'p50 during':>11} {'p99 before':>11} {'p99 during':>11} {'p99 ×':>6} "
        f"{'duration':>9}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        before, during = row["before"], row["during"]
        ratio = during["p99"] / before["p99"] if before["p99"] else float("nan")
        print(
            f"{row['case']:<50} {row['rate']:>5.0f} {during['failed']:>7} "
            f"{during['requests']:>9} "
            f"{before['p50']:>9.1f}ms {during['p50']:>9.1f}ms "
            f"{before['p99']:>9.1f}ms {during['p99']:>9.1f}ms {ratio:>6.2f} "
            f"{row['duration_s']:>8.1f}s"
        )
        if during["errors"]:
            print(f"{'':<50} errors: {during['errors']}")
    if rows:
        rates = [r["during"]["rate"] for r in rows]
        print(
            f"\nachieved rate during the cases: {min(rates):.0f}-{max(rates):.0f} "
            f"req/s (mean {statistics.mean(rates):.0f}); targets: 0 failed in (a)-(c) "
            "and p99 "
            "during ≤ 2× p99 before"
        )


if __name__ == "__main__":
    sys.exit(main())
