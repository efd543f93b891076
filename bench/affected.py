"""Benchmark of `./inv affected` (not a test): is it exact, and what does it cost?

1. Held-out accuracy: `--scenarios N` changes generated from `--seed` (bench/heldout.py:
   random edits to shared modules, service modules, tests, resources, lockfile entries,
   BUILD files, Compose blocks, docs, global inputs; deletions, renames and new modules;
   1-3 edits each), each one commit on a scratch branch of a temporary copy of this
   repository. The truth of each comes from heldout.py (an import-graph walk with ast,
   the lockfile's requirements, the Compose blocks), not from Pants nor from
   release/change/affected.py nor from the tests' cases. Scored: `include`, `test_only`
   and `deploy_only` of ours; beside it the seed's path filter (`services/<x>/` → x,
   `shared/` → every service), a tuned path filter, and raw `pants --changed-since
   --changed-dependents=transitive list`; per scenario and in total, with the time of
   ours and raw Pants per scenario (warm pantsd).
2. Cost at five services: `affected` cold (no pantsd, no graph cache) and warm (pantsd
   up; graph cache off, then on), beside the raw Pants query measured the same way.
3. Growth (`--sizes`): generated monorepos of N services, our warm time beside the
   raw Pants query for the same change. `--cases` also scores testing/affected_cases.py.

Run: ./inv bench affected [--args='--scenarios 100 --seed 13 --sizes 50,100']
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import affected_growth, heldout, heldout_edits, report
from bench.affected_methods import (
    REPEAT,
    ours,
    ours_all,
    pants_all,
    pants_changed,
    path_filter,
    pr,
    score,
    shown,
    timed,
    tuned_filter,
)
from testing.affected_cases import ALL, CASES, check_out
from testing.scenario_repo import ScenarioRepo

ROOT = Path(__file__).resolve().parents[1]


# -- 1b. accuracy on the tests' cases (--cases) --------------------------------


def accuracy(repo: ScenarioRepo) -> None:
    print(
        f"== 1. accuracy: {len(CASES)} changes, one commit each on a scratch branch =="
    )
    head = (
        f"{'change':<24}{'rule':<5}{'true':<20}{'ours':<20}{'P':>5}{'R':>5}  "
        f"{'path filter':<20}{'P':>5}{'R':>5}  "
        f"{'pants changed-since':<20}{'P':>5}{'R':>5}"
    )
    print(head)
    print("-" * len(head))
    totals = {"ours": [0, 0, 0], "path": [0, 0, 0], "pants": [0, 0, 0]}
    for case in CASES:
        since = check_out(repo, case)
        true = set(case.include)
        mine, _ = ours(repo, since)
        paths = repo.git("diff", "--name-only", f"{since}...HEAD").split()
        base = path_filter(paths, ALL)
        theirs, _ = pants_changed(repo, since)
        row = f"{case.id:<24}{case.rule:<5}{shown(true):<20}"
        for key, got in (("ours", mine), ("path", base), ("pants", theirs)):
            s = score(got, true)
            totals[key] = [a + b for a, b in zip(totals[key], s)]
            p, r = pr(*s)
            row += f"{shown(got):<20}{p:>5.2f}{r:>5.2f}  "
        print(row.rstrip())
    print("-" * len(head))
    for key, label in (("ours", "ours"), ("path", "path filter"), ("pants", "pants")):
        tp, fp, fn = totals[key]
        p, r = pr(tp, fp, fn)
        print(
            f"totals {label:<12} precision {p:.2f}  recall {r:.2f}  "
            f"(true positives {tp}, false positives {fp}, missed {fn})"
        )
    print()


# -- 1. held-out accuracy --------------------------------

METHODS = ("ours", "path filter (seed)", "path filter (tuned)", "raw pants")


def held_out(repo: ScenarioRepo, seed: int, count: int) -> dict:
    print(
        f"== 1. held-out accuracy: {count} generated changes (seed {seed}), one commit "
        "each; truth from bench/heldout.py =="
    )
    before = heldout.Tree(repo.path)
    base = heldout.service_closures(before)
    base_copy = repo.path.parent / "base-tree"
    if not base_copy.exists():
        shutil.copytree(
            repo.path,
            base_copy,
            ignore=shutil.ignore_patterns(".git", ".pids", ".pants.d", ".venv"),
        )
    before = heldout.Tree(base_copy)
    changes = heldout_edits.scenarios(seed, count, before)
    totals = {m: {k: [0, 0, 0] for k in heldout.SETS} for m in METHODS}
    exact = {m: 0 for m in METHODS}
    rows = []
    times: dict[str, list[float]] = {"ours": [], "raw pants": []}
    pants_errors = 0
    for i, edits in enumerate(changes):
        repo.branch(f"heldout-{i}")
        for e in edits:
            e.apply(repo)
        repo.commit(f"held-out {i}: " + "; ".join(f"{e.kind} {e.path}" for e in edits))
        paths = set(
            repo.git("diff", "--name-only", "--no-renames", "main...HEAD").split()
        )
        truth = heldout.truth(paths, before, heldout.Tree(repo.path), base).as_dict()
        truth = {k: set(v) for k, v in truth.items()}
        mine, t_ours = ours_all(repo, "main")
        theirs, t_pants = pants_all(repo, "main")
        seed_filter = path_filter(paths, heldout.SERVICES)
        got = {
            "ours": mine,
            "path filter (seed)": {
                "include": seed_filter,
                "test_only": set(),
                "deploy_only": set(),
            },
            "path filter (tuned)": tuned_filter(paths),
            "raw pants": theirs,
        }
        times["ours"].append(t_ours)
        times["raw pants"].append(t_pants)
        row = {
            "id": i,
            "edits": [
                f"{e.kind}: {e.path}" + (f" → {e.also}" if e.also else "")
                for e in edits
            ],
            "truth": {k: sorted(v) for k, v in truth.items()},
            "seconds": {"ours": t_ours, "raw pants": t_pants},
        }
        if "error" in theirs:
            row["raw pants error"] = theirs.pop("error")
            pants_errors += 1
        for m in METHODS:
            row[m] = {k: sorted(v) for k, v in got[m].items()}
            if all(got[m][k] == truth[k] for k in heldout.SETS):
                exact[m] += 1
            for k in heldout.SETS:
                s_ = score(got[m][k], truth[k])
                totals[m][k] = [a + b for a, b in zip(totals[m][k], s_)]
        rows.append(row)
        miss = "" if row["ours"] == row["truth"] else "  ← ours differs"
        print(
            f"{i:>4} {'; '.join(row['edits'])[:70]:<70} "
            f"true {shown(truth['include'])}/{shown(truth['test_only'])}/"
            f"{shown(truth['deploy_only'])}  ours {shown(mine['include'])}/"
            f"{shown(mine['test_only'])}/{shown(mine['deploy_only'])}{miss}",
            flush=True,
        )
    print()
    head = f"{'method':<22}{'exact':>8}" + "".join(
        f"{k + ' P':>16}{'R':>6}" for k in heldout.SETS
    )
    print(head)
    print("-" * len(head))
    summary = {}
    for m in METHODS:
        line = f"{m:<22}{exact[m]:>4}/{count:<3}"
        summary[m] = {"exact": exact[m]}
        for k in heldout.SETS:
            p, r = pr(*totals[m][k])
            summary[m][k] = {"precision": p, "recall": r, "tp_fp_fn": totals[m][k]}
            line += f"{p:>16.2f}{r:>6.2f}"
        print(line)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"\nper scenario (warm pantsd): ours median {med['ours']:.2f}s, raw pants "
        f"{med['raw pants']:.2f}s, ratio {med['ours'] / med['raw pants']:.2f}x "
        "(target ≤ 1.5x); the path filters cost nothing"
    )
    print(
        f"raw pants failed (counted as an empty answer) in {pants_errors} scenarios; "
        "(P/R of a set with no positive anywhere print as 1.00)\n"
    )
    return {
        "seed": seed,
        "count": count,
        "summary": summary,
        "median_s": med,
        "scenarios": rows,
    }


# -- 2. cost at five services --------------------------------


def cost_here(repo: ScenarioRepo) -> dict:
    print(
        "== 2. cost at five services (change: shared/core/geo.py; "
        f"median of {REPEAT} runs each) =="
    )
    repo.branch("cost")
    repo.append("shared/core/geo.py")
    repo.commit("cost")
    no_cache = {**repo.env, "ECOTRACK_GRAPH_CACHE": "off"}
    cached = dict(repo.env)

    def run_ours(env) -> float:
        repo.env = env
        try:
            return ours(repo, "main")[1]
        finally:
            repo.env = cached

    colds: dict[str, list[float]] = {"ours": [], "raw": []}
    for _ in range(REPEAT):  # alternating, so that both see the same machine load
        repo.stop_pantsd()
        colds["ours"].append(run_ours(no_cache))
        repo.stop_pantsd()
        colds["raw"].append(pants_changed(repo, "main")[1])
    cold_ours, cold_raw = (statistics.median(colds[k]) for k in ("ours", "raw"))
    warm_raw = timed(lambda: pants_changed(repo, "main")[1])
    warm_ours = timed(lambda: run_ours(no_cache))
    run_ours(cached)  # fills the cache
    hit = timed(lambda: run_ours(cached))
    print(f"{'':<34}{'affected':>10}{'raw pants':>11}{'ratio':>8}")
    print(
        f"{'cold (no pantsd, no graph cache)':<34}{cold_ours:>9.2f}s{cold_raw:>10.2f}s"
        f"{cold_ours / cold_raw:>7.2f}x"
    )
    print(
        f"{'warm pantsd, graph cache off':<34}{warm_ours:>9.2f}s{warm_raw:>10.2f}s"
        f"{warm_ours / warm_raw:>7.2f}x"
    )
    print(
        f"{'warm pantsd, graph cache hit':<34}{hit:>9.2f}s{warm_raw:>10.2f}s"
        f"{hit / warm_raw:>7.2f}x"
    )
    print()
    return {
        "cold": [cold_ours, cold_raw],
        "warm_no_cache": [warm_ours, warm_raw],
        "warm_cache_hit": [hit, warm_raw],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=100)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--sizes", default="", help="synthetic repo sizes, e.g. 50,100")
    parser.add_argument("--cases", action="store_true", help="also the tests' cases")
    parser.add_argument("--no-cost", action="store_true")
    parser.add_argument("--out", default=str(report.RESULTS / "affected.json"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="ecotrack-bench-"))
    started = time.perf_counter()
    out: dict = {}
    try:
        repo = ScenarioRepo.create(workdir / "repo", graph_cache=workdir / "cache")
        try:
            repo.run("./pants", "list", "::")  # warm pantsd
            out["held_out"] = held_out(repo, args.seed, args.scenarios)
            if args.cases:
                accuracy(repo)
            if not args.no_cost:
                repo.branch("main-again")
                out["cost"] = cost_here(repo)
        finally:
            repo.stop_pantsd()
        if sizes:
            affected_growth.growth(sizes, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    kept = f" (copies kept in {workdir})" if args.keep else ""
    print(f"benchmark done in {time.perf_counter() - started:.0f}s{kept}")
    report.write_json("affected", out, Path(args.out))
    ours_summary = out["held_out"]["summary"]["ours"]
    ok = ours_summary["exact"] == args.scenarios
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
