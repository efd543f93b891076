"""The methods bench/affected.py compares, each run on a scenario repository and
timed: ours (`./inv affected`), the seed's path filter, a tuned path filter and raw
`pants --changed-since`; and how a set is scored against the truth."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable

from bench import heldout
from testing.affected_cases import ALL
from testing.scenario_repo import ScenarioRepo

REPEAT = 3  # warm timings: the median of this many runs


def path_filter(paths: Iterable[str], services: Iterable[str]) -> set[str]:
    """The baseline: a service's own folder, or anything under shared/ → everything."""
    services = set(services)
    out: set[str] = set()
    for p in paths:
        parts = p.split("/")
        if parts[0] == "shared":
            return services
        if parts[0] == "services" and len(parts) > 2 and parts[1] in services:
            out.add(parts[1])
    return out


def pants_changed(repo: ScenarioRepo, since: str) -> tuple[set[str], float]:
    """Services whose image Pants' own changed-since query lists, and its time."""
    started = time.perf_counter()
    r = repo.run(
        "./pants", f"--changed-since={since}", "--changed-dependents=transitive", "list"
    )
    seconds = time.perf_counter() - started
    assert r.returncode == 0, r.stderr[-2000:]
    images = {a for a in r.stdout.split() if a.startswith("services/")}
    return {
        a.split("/")[1].split(":")[0] for a in images if a.endswith(":image")
    }, seconds


def ours(repo: ScenarioRepo, since: str) -> tuple[set[str], float]:
    sets, seconds = ours_all(repo, since)
    return sets["include"], seconds


def ours_all(repo: ScenarioRepo, since: str) -> tuple[dict[str, set[str]], float]:
    started = time.perf_counter()
    data = repo.affected_json(since=since)
    seconds = time.perf_counter() - started

    def names(items) -> set[str]:
        return {i["service"] if isinstance(i, dict) else i for i in items}

    return {k: names(data.get(k, [])) for k in heldout.SETS}, seconds


def tuned_filter(paths: Iterable[str]) -> dict[str, set[str]]:
    """The path filter with the globs it was missing: third-party files, Pants'
    configuration and the build tooling rebuild everything; a service's tests are
    test_only; a Compose file redeploys every service (it cannot tell blocks apart);
    docs nothing."""
    everything = set(heldout.SERVICES)
    include: set[str] = set()
    tests: set[str] = set()
    deploy: set[str] = set()
    for p in paths:
        parts = p.split("/")
        if p.endswith(".md") or parts[0] in (".github", "docs"):
            continue
        if (
            parts[0] in ("3rdparty",)
            or p in ("pants.toml", "pants", "BUILD", ".gitignore")
            or p.startswith("build-support/macros.py")
            or p.startswith("build-support/base-image/")
        ):
            include |= everything
        elif parts[0] == "shared":
            if "tests" not in parts:
                include |= everything
        elif parts[0] == "services" and len(parts) > 2:
            (tests if parts[2] == "tests" else include).add(parts[1])
        elif parts[0] == "gitops" and p.endswith(".yaml"):
            deploy |= everything
    return {
        "include": include,
        "test_only": tests - include,
        "deploy_only": deploy - include,
    }


def pants_all(repo: ScenarioRepo, since: str) -> tuple[dict[str, set[str]], float]:
    """Raw Pants: images listed → include; a service's tests listed → test_only."""
    started = time.perf_counter()
    r = repo.run(
        "./pants", f"--changed-since={since}", "--changed-dependents=transitive", "list"
    )
    seconds = time.perf_counter() - started
    if r.returncode != 0:  # e.g. a deleted module still imported: Pants refuses
        error = r.stderr.strip().splitlines()
        detail = next((ln for ln in error if "Error" in ln), error[-1] if error else "")
        return {
            "include": set(),
            "test_only": set(),
            "deploy_only": set(),
            "error": detail[:160],
        }, seconds
    include, tests = set(), set()
    for a in r.stdout.split():
        if not a.startswith("services/"):
            continue
        service = a.split("/")[1].split(":")[0]
        if a.endswith(":image"):
            include.add(service)
        elif "/tests/" in a or ":tests" in a:
            tests.add(service)
    return {
        "include": include,
        "test_only": tests - include,
        "deploy_only": set(),
    }, seconds


def score(got: set[str], true: set[str]) -> tuple[int, int, int]:
    return len(got & true), len(got - true), len(true - got)


def pr(tp: int, fp: int, fn: int) -> tuple[float, float]:
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)


def shown(s: set[str]) -> str:
    return "ALL" if s == set(ALL) else (",".join(sorted(s)) or "-")


def timed(fn, repeat: int = REPEAT) -> float:
    return statistics.median(fn() for _ in range(repeat))
