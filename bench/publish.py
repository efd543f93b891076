"""Benchmark of `./inv publish` (not a test): what does a release of one change cost?

In one run, in a temporary copy of this repository (its working tree as one commit)
with a registry of its own (Debian's docker-registry on a free port, data in the temp
dir):

1. a full publish: the local manifest is empty, so all five services are built with
   Pants, pushed and recorded;
2. a one-line change to one service (recycling), committed, then `./inv publish`
   again with its default selection: the services changed since the commit the
   manifest records, from the affected module.

For each: wall time, images built and pushed (from `--json`), and bytes the registry
received (growth of its storage dir); then the ratio of the wall times, and for the
one-service case which blobs were new (from the registry's manifests). pantsd is
warmed in the copy first, so neither run pays for starting it, and each service's code
carries a line no cache has seen, so both runs really build their code layers (the
third-party layers stay in Docker's cache, as on a CI runner with a warm cache).

Run: ./inv bench publish [--args='--keep']
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from release.adapters.daemons import free_port

ROOT = Path(__file__).resolve().parents[1]
CHANGED = "recycling"
ACCEPT = "application/vnd.docker.distribution.manifest.v2+json"


def sh(cmd: list[str], cwd: Path, env: dict | None = None) -> str:
    r = subprocess.run(
        cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True
    )
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return r.stdout


def copy_repository(dest: Path) -> Path:
    """The working tree (tracked and untracked, not ignored) as a new repository,
    sharing .venv and the pex tool, so `./inv` runs in it without a new venv."""
    files = sh(["git", "ls-files", "-co", "--exclude-standard", "-z"], ROOT)
    for rel in filter(None, files.split("\0")):
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    pex = ROOT / "build-support" / "bin" / "pex"
    if pex.exists():
        (dest / "build-support" / "bin").mkdir(parents=True, exist_ok=True)
        shutil.copy2(pex, dest / "build-support" / "bin" / "pex")
    # Every service's code gets a line no cache has seen, so the full publish really
    # builds five code layers (third-party layers stay cached, as on a warm CI runner).
    for main_py in sorted(dest.glob("services/*/*_service/main.py")):
        main_py.write_text(main_py.read_text() + f"# bench: {uuid.uuid4().hex}\n")
    sh(["git", "init", "-q", "-b", "main"], dest)
    (dest / ".git" / "info" / "exclude").write_text("/.venv\n")
    for key, value in (("user.name", "Bench"), ("user.email", "bench@example.com")):
        sh(["git", "config", key, value], dest)
    sh(["git", "add", "-A"], dest)
    sh(["git", "commit", "-q", "-m", "bench: snapshot of the working tree"], dest)
    return dest


def storage_bytes(storage: Path) -> int:
    return sum(p.stat().st_size for p in storage.rglob("*") if p.is_file())


def publish(repo: Path, env: dict, storage: Path) -> dict:
    before = storage_bytes(storage) if storage.exists() else 0
    started = time.monotonic()
    out = sh([str(repo / "inv"), "publish", "--json"], repo, env)
    wall = time.monotonic() - started
    result = json.loads(out)
    result["wall"] = wall
    result["bytes"] = storage_bytes(storage) - before
    return result


def blobs(address: str, image: str) -> dict[str, int]:
    """{digest: size} of an image's config and layers, from the registry."""
    name, _, digest = image.partition("@")
    repository = name.split("/", 1)[1].rsplit(":", 1)[0]
    r = httpx.get(
        f"http://{address}/v2/{repository}/manifests/{digest}",
        headers={"Accept": ACCEPT},
    )
    r.raise_for_status()
    m = r.json()
    return {b["digest"]: b["size"] for b in [m["config"], *m["layers"]]}


def stop_pid_file(path: Path, expect: str) -> None:
    try:
        pid = int(path.read_text().strip())
        if expect in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
            os.kill(pid, 15)
    except (OSError, ValueError):
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ecotrack-bench-publish-"))
    repo = copy_repository(tmp / "repo")
    port = free_port()
    registry_dir = tmp / "registry"
    env = {
        "ECOTRACK_REGISTRY_PORT": str(port),
        "ECOTRACK_REGISTRY_DIR": str(registry_dir),
        "XDG_STATE_HOME": str(tmp / "state"),
    }
    storage = registry_dir / "storage"
    runs: list[dict] = []
    try:
        print(f"temporary copy: {repo}; registry 127.0.0.1:{port}", file=sys.stderr)
        sh([str(repo / "pants"), "list", "services::"], repo)  # warm pantsd
        full = publish(repo, env, storage)
        runs.append(full)

        main_py = repo / "services" / CHANGED / f"{CHANGED}_service" / "main.py"
        # A line never seen before: no cache anywhere has built this change yet.
        line = f"# bench: a one-line change {uuid.uuid4().hex}\n"
        main_py.write_text(main_py.read_text() + line)
        sh(["git", "commit", "-q", "-am", f"{CHANGED}: a one-line change"], repo)
        one = publish(repo, env, storage)
        runs.append(one)

        address = f"127.0.0.1:{port}"
        old = next(p for p in full["published"] if p["service"] == CHANGED)
        new = next(p for p in one["published"] if p["service"] == CHANGED)
        old_blobs, new_blobs = blobs(address, old["image"]), blobs(
            address, new["image"]
        )
        added = {d: s for d, s in new_blobs.items() if d not in old_blobs}
        report(full, one, added, len(new_blobs))
    finally:
        stop_pid_file(registry_dir / "registry.pid", "docker-registry")
        for pid_file in (repo / ".pids").glob("*/pantsd/pid"):
            stop_pid_file(pid_file, "pantsd")
        refs = sh(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"], ROOT)
        tags = {p["tag"] for run in runs for p in run["published"]}
        ours = [
            r
            for r in refs.split()
            if r.startswith(f"127.0.0.1:{port}/")
            or (r.startswith("ecotrack/") and r.split(":")[-1] in tags)
        ]
        if ours:
            subprocess.run(["docker", "rmi", *ours], capture_output=True)
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def report(full: dict, one: dict, added: dict[str, int], blob_count: int) -> None:
    rows = [("full publish", full), ("one-line change", one)]
    print(f"{'run':<18}{'built':>7}{'pushed':>8}{'wall s':>9}{'registry +bytes':>18}")
    for name, r in rows:
        print(
            f"{name:<18}{len(r['built']):>7}{len(r['pushed']):>8}"
            f"{r['wall']:>9.1f}{r['bytes']:>18,}"
        )
    print(f"services built, full: {', '.join(full['built'])}")
    print(f"services built, one-line change: {', '.join(one['built'])}")
    print(f"selection of the second run: {one['selection']}")
    print(f"wall-time ratio one/full: {one['wall'] / full['wall']:.2f}")
    print(f"bytes ratio one/full: {one['bytes'] / max(full['bytes'], 1):.4f}")
    print(
        f"{CHANGED}: {len(added)} of {blob_count} blobs new "
        f"(config + changed layers): "
        + ", ".join(f"{d[7:19]} {s:,} B" for d, s in sorted(added.items()))
    )
    stages = {k: round(v, 1) for k, v in one["seconds"].items()}
    print(f"one-line change, seconds by stage: {stages}")
    stages = {k: round(v, 1) for k, v in full["seconds"].items()}
    print(f"full publish, seconds by stage: {stages}")


if __name__ == "__main__":
    main()
