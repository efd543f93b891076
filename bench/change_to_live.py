"""Benchmark: from a one-line commit in one service to its new version serving.

    ./inv bench change_to_live [--args='--keep']

In one run, in a temporary copy of this repository (its working tree as one commit,
every service's code with a line no cache has seen) with a registry, Compose project,
proxy port and state dir of its own:

1. first deploy: `./inv up` with an empty local manifest: all images built with
   Pants, pushed, recorded, and every unit created (nothing to roll), checked
   through the proxy;
2. the full pipeline, what the team does today for any change: a line changed in
   every service's code, committed, then `./inv up`: every service image built,
   pushed and recorded, every unit rolled out over the running stack;
3. change-to-live: a one-line change to one service (recycling) committed, then
   `./inv up` again: affected → Pants package of that one image → push → manifest →
   deploy of that service, until its new commit answers /recycling/version through
   the proxy.

Each output line of `./inv up` is timestamped, so the table shows where the seconds
go (bootstrap, selection, build, push, deploy, check). Targets: change-to-live ≤ 20 %
of the full pipeline (2; its ratio to the first deploy is printed beside) and ≤ 30 s.
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
from pathlib import Path

import httpx

from bench import report
from bench.publish import copy_repository, free_port, sh, stop_pid_file

ROOT = Path(__file__).resolve().parents[1]

CHANGED = "recycling"


def timed_up(repo: Path, env: dict, ports, project: str, attempts: int = 1) -> dict:
    """`./inv up`, each output line with its second from the start. With attempts
    > 1, a failed `up` (e.g. health checks timing out on a saturated host) is run
    again, as a user would: the times add up and the failures are counted.
    `ports`: the proxy's (public HTTP, internal) ports; Docker picks the HTTPS one."""
    total: dict = {"wall": 0.0, "lines": [], "failed_attempts": 0}
    for attempt in range(attempts):
        r = _timed_up(repo, env, ports, project, last=attempt == attempts - 1)
        offset = total["wall"]
        total["lines"] += [(t + offset, x) for t, x in r["lines"]]
        total["wall"] += r["wall"]
        if r["ok"]:
            return total
        total["failed_attempts"] += 1
    return total


def _timed_up(repo: Path, env: dict, ports, project: str, last: bool) -> dict:
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(repo / "inv"), "up", "--port", str(ports[0]), "--tls-port", "0"]
        + ["--internal-port", str(ports[1]), "--project", project],
        cwd=repo,
        env={**os.environ, **env, "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in proc.stdout:
        lines.append((round(time.monotonic() - started, 2), line.rstrip()))
    code = proc.wait()
    wall = time.monotonic() - started
    if code and last:
        tail = "\n".join(f"{t:6.1f} {x}" for t, x in lines[-40:])
        sys.exit(f"./inv up failed ({code}):\n{tail}")
    if code:
        print(f"bench: ./inv up failed ({code}); again", file=sys.stderr)
    return {"wall": wall, "lines": lines, "ok": code == 0}


def services() -> list[str]:
    return sorted(
        p.name for p in (ROOT / "services").iterdir() if (p / "BUILD").exists()
    )


def change_lines(repo: Path, names: list[str]) -> str:
    """A line no cache has seen at the end of each service's main.py, committed;
    returns the new commit."""
    for name in names:
        main_py = repo / "services" / name / f"{name}_service" / "main.py"
        main_py.write_text(
            main_py.read_text() + f"# bench: a one-line change {uuid.uuid4().hex}\n"
        )
    sh(["git", "commit", "-q", "-am", f"{', '.join(names)}: a one-line change"], repo)
    return sh(["git", "rev-parse", "HEAD"], repo).strip()


def serving(port: int, sha: str, timeout: float = 60) -> float:
    """Seconds until /recycling/version through the proxy (its internal listener,
    `port`) reports commit `sha`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            v = httpx.get(f"http://127.0.0.1:{port}/{CHANGED}/version", timeout=2)
            if v.status_code == 200 and str(v.json().get("git_sha", "")).startswith(
                sha[:7]
            ):
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return float("nan")


MARKS = (
    ("bootstrap", "bootstrap"),
    ("affected", "computing the dependency graph"),  # the selection's Pants query
    ("select", "select"),
    ("build", "build"),
    ("push", "push"),
    ("record", "record"),
    ("deploy", "deploying"),
    ("check", "checking every service"),
)


def stages(lines: list[tuple[float, str]], wall: float) -> dict[str, float]:
    """Seconds between the first line of each stage and the next stage's."""
    starts = []
    for name, needle in MARKS:
        hit = next((t for t, x in lines if needle in x.lower()), None)
        if hit is not None:
            starts.append((hit, name))
    starts.sort()
    out = {"start": starts[0][0]} if starts else {}  # ./inv and Python starting
    for (t, name), nxt in zip(starts, [*starts[1:], (wall, "end")]):
        out[name] = round(nxt[0] - t, 1)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--out", default=str(report.RESULTS / "change_to_live.json"))
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ecotrack-bench-live-"))
    repo = copy_repository(tmp / "repo")
    registry_port, ports = free_port(), (free_port(), free_port())
    project = f"ecotrack-live-bench-{uuid.uuid4().hex[:6]}"
    registry_dir = tmp / "registry"
    env = {
        "ECOTRACK_REGISTRY_PORT": str(registry_port),
        "ECOTRACK_REGISTRY_DIR": str(registry_dir),
        "XDG_STATE_HOME": str(tmp / "state"),
    }
    runs = {}
    try:
        sh([str(repo / "pants"), "list", "services::"], repo)  # warm pantsd
        print("bench: first deploy (./inv up, empty manifest) ...", file=sys.stderr)
        runs["first"] = timed_up(repo, env, ports, project, attempts=3)
        change_lines(repo, services())
        print("bench: full pipeline (every service changed) ...", file=sys.stderr)
        runs["full"] = timed_up(repo, env, ports, project, attempts=2)
        sha = change_lines(repo, [CHANGED])
        print("bench: one-line change → ./inv up ...", file=sys.stderr)
        live: list[float] = []
        watcher = threading.Thread(
            target=lambda: live.append(serving(ports[1], sha, timeout=600)), daemon=True
        )
        watcher.start()  # from here: when does the new commit first answer?
        runs["one"] = timed_up(repo, env, ports, project, attempts=2)
        watcher.join(timeout=30)
        runs["one"]["serving_after_s"] = live[0] if live else float("nan")
    finally:
        sh(
            [
                "bash",
                "-c",
                f"ids=$(docker ps -aq --filter label=com.docker.compose.project="
                f'{project}); [ -z "$ids" ] || docker rm -f $ids >/dev/null; '
                f"for k in volume network; do n=$(docker $k ls -q --filter "
                f'label=com.docker.compose.project={project}); [ -z "$n" ] || '
                f"docker $k rm $n >/dev/null; done; true",
            ],
            ROOT,
        )
        stop_pid_file(registry_dir / "registry.pid", "docker-registry")
        for pid_file in (repo / ".pids").glob("*/pantsd/pid"):
            stop_pid_file(pid_file, "pantsd")
        refs = sh(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"], ROOT)
        ours = [r for r in refs.split() if r.startswith(f"127.0.0.1:{registry_port}/")]
        if ours:
            subprocess.run(["docker", "rmi", *ours], capture_output=True)
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    first, full, one = runs["first"], runs["full"], runs["one"]
    ratio = one["wall"] / full["wall"]
    print(f"\n{'run':<34}{'wall s':>8}  stages (s)")
    for name, r in (
        ("first deploy (create all)", first),
        ("full pipeline (roll all)", full),
        ("one-line change", one),
    ):
        print(f"{name:<34}{r['wall']:>8.1f}  {stages(r['lines'], r['wall'])}")
        if r["failed_attempts"]:
            print(f"{'':<34}  ({r['failed_attempts']} failed attempt(s) included)")
    print(
        f"\nchange-to-live {one['wall']:.1f}s = {ratio:.0%} of the full pipeline "
        f"{full['wall']:.1f}s (targets ≤ 20 % and ≤ 30 s; "
        f"{one['wall'] / first['wall']:.0%} of the first deploy); the new commit first "
        f"answered through the proxy {one['serving_after_s']:.1f}s after `./inv up` "
        "started (the rest: old replicas retired, every service checked)"
    )
    print(f"load average: {os.getloadavg()[0]:.1f}")
    ok = ratio <= 0.2 and one["wall"] <= 30
    report.write_json(
        "change_to_live",
        {
            "first": first,
            "full": full,
            "one": one,
            "ratio": ratio,
            "stages": {k: stages(r["lines"], r["wall"]) for k, r in runs.items()},
            "load_average": os.getloadavg(),
            "targets_met": ok,
        },
        Path(args.out),
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
