"""A scratch copy of this repository for scenario tests and benchmarks.

`ScenarioRepo.create(dest)` copies the working tree as it is now (tracked and
untracked-not-ignored files, uncommitted edits included) into a fresh git repository
whose first commit, on `main`, is the base every scenario branches from. It reuses
what this machine has already bootstrapped: the Pants venv (~/.cache/pants-bootstrap),
Pants' pex tool (copied) and the tooling venv running the tests (linked as .venv).
Each copy runs its own pantsd; stop_pantsd() ends it (by the pid Pants recorded).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEX_TOOL = "build-support/bin/pex"
GIT_ID = ["-c", "user.name=scenario", "-c", "user.email=scenario@ecotrack.invalid"]


def source_files(source: Path = ROOT) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=source,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted({p for p in out.split("\0") if p and (source / p).is_file()})


class ScenarioRepo:
    def __init__(self, path: Path, env: dict[str, str]):
        self.path = path
        self.env = env

    # -- creation ------------------------------------------------------------------
    @classmethod
    @contextmanager
    def for_tests(cls, tmp_path_factory, name: str) -> Iterator["ScenarioRepo"]:
        """A copy for one test module (pytest's tmp_path_factory), sharing the
        session's graph cache with the other copies; its pantsd stopped after."""
        cache = tmp_path_factory.getbasetemp() / "graph-cache"
        repo = cls.create(tmp_path_factory.mktemp(name) / "repo", graph_cache=cache)
        try:
            yield repo
        finally:
            repo.stop_pantsd()

    @classmethod
    def create(
        cls, dest: Path, source: Path = ROOT, graph_cache: Path | None = None
    ) -> "ScenarioRepo":
        dest.mkdir(parents=True, exist_ok=True)
        for rel in source_files(source):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / rel, target)
        if (source / PEX_TOOL).is_file():
            (dest / PEX_TOOL).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / PEX_TOOL, dest / PEX_TOOL)
        link_tooling_venv(dest)
        env = dict(os.environ)
        if graph_cache is not None:
            env["ECOTRACK_GRAPH_CACHE"] = str(graph_cache)
        repo = cls(dest, env)
        repo.git("init", "-q", "-b", "main")
        repo.commit("base: the working tree under test")
        return repo

    # -- git -----------------------------------------------------------------------
    def git(self, *args: str, check: bool = True) -> str:
        r = subprocess.run(
            ["git", *GIT_ID, *args],
            cwd=self.path,
            capture_output=True,
            text=True,
            env=self.env,
        )
        if check and r.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {r.stderr.strip()}")
        return r.stdout.strip()

    def branch(self, name: str, start: str = "main") -> None:
        """A fresh scratch branch from `start`, with a clean working tree."""
        self.git("checkout", "-q", "-f", "-B", name, start)
        self.git("clean", "-q", "-f", "-d")

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    # -- edits ---------------------------------------------------------------------
    def file(self, rel: str) -> Path:
        return self.path / rel

    def write(self, rel: str, text: str) -> None:
        self.file(rel).parent.mkdir(parents=True, exist_ok=True)
        self.file(rel).write_text(text)

    def append(self, rel: str, text: str = "\n# edited by a scenario\n") -> None:
        old = self.file(rel).read_text() if self.file(rel).exists() else ""
        self.write(rel, old + text)

    def replace(self, rel: str, old: str, new: str) -> None:
        text = self.file(rel).read_text()
        assert old in text, f"{rel} does not contain {old!r}"
        self.write(rel, text.replace(old, new))

    def delete(self, rel: str) -> None:
        self.git("rm", "-q", "-r", rel)

    def move(self, old: str, new: str) -> None:
        self.file(new).parent.mkdir(parents=True, exist_ok=True)
        self.git("mv", old, new)

    def edit_lock(self, rel: str, edit) -> None:
        """Rewrites a Pants lockfile's JSON body through `edit(data)`, header kept."""
        lines = self.file(rel).read_text().splitlines()
        header = [ln for ln in lines if ln.startswith("//")]
        data = json.loads("\n".join(ln for ln in lines if not ln.startswith("//")))
        edit(data)
        self.write(rel, "\n".join(header) + "\n" + json.dumps(data, indent=2) + "\n")

    # -- commands ------------------------------------------------------------------
    def run(self, *cmd: str, timeout: float = 900) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(cmd),
            cwd=self.path,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
        )

    def affected(self, *args: str) -> subprocess.CompletedProcess:
        return self.run("./inv", "affected", *args)

    def affected_json(self, *args: str, since: str = "main") -> dict:
        r = self.affected("--since", since, "--json", *args)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    # -- pantsd --------------------------------------------------------------------
    def pantsd_pids(self) -> list[int]:
        pids = []
        for f in (self.path / ".pids").glob("*/pantsd/pid"):
            try:
                pids.append(int(f.read_text().strip()))
            except (OSError, ValueError):
                pass
        return pids

    def stop_pantsd(self) -> None:
        for pid in self.pantsd_pids():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.2)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (our child) is dead for our purposes.
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]
    except OSError:
        return False


def link_tooling_venv(dest: Path) -> None:
    """`./inv` in the copy runs the tooling venv running us: .venv is a real directory
    (Pants ignores it; a symlinked .venv would be read) holding links to that venv's
    parts, with the stamp of the copy's tooling lock so ./inv installs nothing."""
    venv = Path(sys.prefix)
    target = dest / ".venv"
    target.mkdir(exist_ok=True)
    for entry in venv.iterdir():
        if entry.name != ".requirements.sha256" and not (target / entry.name).exists():
            (target / entry.name).symlink_to(entry)
    lock = dest / "3rdparty/python/tooling-requirements.lock.txt"  # what ./inv stamps
    if lock.is_file():
        digest = hashlib.sha256(lock.read_bytes()).hexdigest()
        (target / ".requirements.sha256").write_text(digest + "\n")
