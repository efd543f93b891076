"""Part 3 of bench/affected.py, growth: generated monorepos of N services, the warm
time of `./inv affected` beside the raw Pants query for the same change."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from bench.affected_methods import REPEAT, ours, pants_changed, timed
from testing.scenario_repo import ScenarioRepo

SHARED_PACKAGES, MODULES_PER_PACKAGE = 10, 5


def generate(repo: ScenarioRepo, n: int) -> None:
    """Replaces the services and shared code of a copy by n generated services."""
    for d in ("services", "shared"):
        shutil.rmtree(repo.path / d)
    for k in range(SHARED_PACKAGES):
        pkg = f"shared/lib{k}"
        repo.write(f"{pkg}/BUILD", "python_sources()\n")
        repo.write(f"{pkg}/__init__.py", "")
        for j in range(MODULES_PER_PACKAGE):
            dep = (
                f"from lib{k}.mod{j - 1} import VALUE as BELOW\n"
                if j
                else "BELOW = 0\n"
            )
            repo.write(f"{pkg}/mod{j}.py", f"{dep}\nVALUE = BELOW + {j}\n")
    modules = [
        (k, j) for k in range(SHARED_PACKAGES) for j in range(MODULES_PER_PACKAGE)
    ]
    for i in range(n):
        name = f"svc{i}"
        picks = sorted(
            {
                modules[(i * s + o) % len(modules)]
                for s, o in ((7, 0), (13, 3), (31, 11))
            }
        )
        imports = "".join(
            f"from lib{k}.mod{j} import VALUE as v{x}\n"
            for x, (k, j) in enumerate(picks)
        )
        total = " + ".join(f"v{x}" for x in range(len(picks)))
        d = f"services/{name}"
        repo.write(
            f"{d}/BUILD",
            f'ecotrack_service(service="{name}", '
            f'entry_point="{name}_service.cli:main")\n',
        )
        repo.write(f"{d}/{name}_service/__init__.py", "")
        repo.write(
            f"{d}/{name}_service/main.py",
            f"{imports}\n\ndef total():\n    return {total}\n",
        )
        repo.write(
            f"{d}/{name}_service/cli.py",
            f"from {name}_service.main import total\n\n\n"
            "def main():\n    print(total())\n",
        )
        repo.write(
            f"{d}/tests/test_{name}.py",
            f"from {name}_service.main import total\n\n\n"
            "def test_total():\n    assert total() >= 0\n",
        )


def growth(sizes: list[int], workdir: Path) -> None:
    print(
        "== 3. growth: generated monorepos (change: shared/lib0/mod0.py; warm: "
        f"median of {REPEAT} runs each) =="
    )
    print(
        f"{'services':>8}{'targets':>9}{'affected':>10}{'ours warm':>11}"
        f"{'raw pants':>11}{'ratio':>8}{'ours cached':>13}{'first run':>11}"
    )
    for n in sizes:
        repo = ScenarioRepo.create(
            workdir / f"synthetic-{n}", graph_cache=workdir / f"cache-{n}"
        )
        try:
            generate(repo, n)
            repo.commit(f"{n} generated services")
            repo.branch("change")
            repo.append("shared/lib0/mod0.py")
            repo.commit("change")
            no_cache = {**repo.env, "ECOTRACK_GRAPH_CACHE": "off"}
            cached = dict(repo.env)
            started = time.perf_counter()
            r = repo.run("./pants", "peek", "--exclude-defaults", "::")  # starts pantsd
            first = time.perf_counter() - started
            assert r.returncode == 0, r.stderr[-2000:]
            targets = len(json.loads(r.stdout))
            mine, _ = ours(repo, "main")
            theirs, _ = pants_changed(repo, "main")
            raw = timed(lambda: pants_changed(repo, "main")[1])
            repo.env = no_cache
            warm = timed(lambda: ours(repo, "main")[1])
            repo.env = cached
            ours(repo, "main")
            hit = timed(lambda: ours(repo, "main")[1])
            assert mine == theirs, mine ^ theirs  # a plain source change: both exact
            print(
                f"{n:>8}{targets:>9}{len(mine):>10}{warm:>10.2f}s{raw:>10.2f}s"
                f"{warm / raw:>7.2f}x{hit:>12.2f}s{first:>10.1f}s"
            )
        finally:
            repo.stop_pantsd()
    print()
