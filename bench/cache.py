"""Benchmark of the shared remote cache (not a test): what does a cold runner gain?

One BuildGrid server (the `./inv cache` adapter, free port, temp data dir) and one
scratch copy of this repository (tracked files); every scenario runs Pants there with
an EMPTY local store and empty named caches (a fresh runner), `--no-pantsd`:

  A  lint + test of everything, package of every pex_binary; empty cache (writer)
  B  the same again; the cache is warm from A (reader token: a PR build)
  C  after a one-line change in one shared module (shared/core/geo.py), as writer

Docker images are not packaged: they need a Docker engine and our base image, and
their build runs outside Pants' process cache (docker_image is not remotely cached);
the pex_binary targets they are built from are.

Columns: wall time; processes run (local executions); local hits; remote hits out
of cacheable lookups; bytes the CAS gained. Timing is noisy on a shared machine:
compare the ratios of one run.

Run: ./inv bench cache [--args='--keep']
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from release.adapters import buildgrid
from release.adapters.daemons import free_port
from release.machine import cache

ROOT = Path(__file__).resolve().parents[1]

CHANGED = "shared/core/geo.py"


@dataclass
class Result:
    name: str
    wall: float
    processes: int
    local_hits: int
    remote_hits: int
    remote_lookups: int
    bytes_stored: int


def copy_repo(dest: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for f in filter(None, files):
        src = ROOT / f.decode()
        if src.is_file():
            (dest / f.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f.decode())
    pex = ROOT / "build-support" / "bin" / "pex"
    if pex.exists():  # built by ./pants on first use (never committed)
        (dest / "build-support" / "bin").mkdir(parents=True, exist_ok=True)
        shutil.copy2(pex, dest / "build-support" / "bin" / "pex")
    return dest


def stats(output: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"^\s+(\w+): (\d+)$", output, re.M)}


def pants(repo: Path, scratch: Path, env: dict, *args: str) -> dict[str, int]:
    cmd = [
        "./pants",
        "--no-pantsd",
        f"--local-store-dir={scratch / 'store'}",
        f"--named-caches-dir={scratch / 'named'}",
        "--stats-log",
        *args,
    ]
    r = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
    out = r.stdout + r.stderr
    if r.returncode != 0:
        sys.exit(f"bench: {' '.join(args)} failed:\n{out[-3000:]}")
    return stats(out)


def pex_targets(repo: Path, env: dict) -> list[str]:
    r = subprocess.run(
        ["./pants", "--no-pantsd", "--filter-target-type=pex_binary", "list", "::"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return r.stdout.split()


def scenario(name, repo, work, env, settings, targets) -> Result:
    scratch = Path(tempfile.mkdtemp(prefix=name[0], dir=work))  # short: pex shebangs
    before = buildgrid.usage(Path(settings.data_dir)).cas_bytes
    started = time.perf_counter()
    total: dict[str, int] = {}
    for args in (("lint", "test", "::"), ("package", *targets)):
        for k, v in pants(repo, scratch, env, *args).items():
            total[k] = total.get(k, 0) + v
    wall = time.perf_counter() - started
    print(f"bench: {name}: {wall:.1f}s {total}", file=sys.stderr, flush=True)
    after = buildgrid.usage(Path(settings.data_dir)).cas_bytes
    shutil.rmtree(scratch, ignore_errors=True)
    return Result(
        name,
        wall,
        total.get("local_execution_requests", 0),
        total.get("local_cache_requests_cached", 0),
        total.get("remote_cache_requests_cached", 0),
        total.get("remote_cache_requests", 0),
        after - before,
    )


def env_for(settings, role: str, write: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANTS_")}
    env[cache.ADDRESS_VAR] = settings.address
    env[cache.TOKEN_FILE_VAR] = settings.token_path(role)
    env[cache.WRITE_VAR] = "true" if write else "false"
    return env


def render(results: list[Result]) -> None:
    a = results[0]
    head = (
        f"{'':22} {'wall':>8} {'vs A':>6} {'processes':>9} {'local hits':>10} "
        f"{'remote hits':>16} {'hit rate':>8} {'bytes stored':>13}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        rate = r.remote_hits / r.remote_lookups if r.remote_lookups else 0.0
        print(
            f"{r.name:22} {r.wall:7.1f}s {r.wall / a.wall:6.0%} {r.processes:9d} "
            f"{r.local_hits:10d} {f'{r.remote_hits} of {r.remote_lookups}':>16} "
            f"{rate:8.0%} {r.bytes_stored:13,d}"
        )
    print(
        "\npackage: the pex_binary targets (docker_image needs a Docker engine and "
        "the base image; its build is not in Pants' process cache)."
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    opts = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    settings = cache.ServerSettings("127.0.0.1", free_port(), str(work / "server"))
    buildgrid.start(settings, buildgrid.ensure_bgd())
    try:
        repo = copy_repo(work / "repo")
        targets = pex_targets(repo, env_for(settings, "reader", False))
        print(f"bench: {len(targets)} pex_binary targets; server {settings.address}")
        results = [
            scenario(
                "A cold, empty cache",
                repo,
                work,
                env_for(settings, "writer", True),
                settings,
                targets,
            ),
            scenario(
                "B cold, warm cache",
                repo,
                work,
                env_for(settings, "reader", False),
                settings,
                targets,
            ),
        ]
        geo = repo / CHANGED
        geo.write_text("# bench: one-line change\n" + geo.read_text())
        results.append(
            scenario(
                f"C 1 line in {Path(CHANGED).name}",
                repo,
                work,
                env_for(settings, "writer", True),
                settings,
                targets,
            )
        )
        render(results)
    finally:
        buildgrid.stop(Path(settings.data_dir))
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
