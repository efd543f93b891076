"""A GitOps repository shaped like ours, and `./inv agent` running as a process
that watches it: what the agent tests and the GitOps bench drive."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import time
from pathlib import Path

from release.model.manifest import Manifest, dumps
from testing.commands import free_port
from testing.gitops import GitopsStack

ROOT = Path(__file__).resolve().parents[1]
GIT_ID = ["-c", "user.name=Release Bot", "-c", "user.email=bot@ecotrack.invalid"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *GIT_ID, *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def make_gitops_repo(path: Path, manifest: Manifest, message: str = "initial") -> str:
    """A repository shaped like ours where the agent looks: gitops/ with the Compose
    files and the local manifest (committed here, unlike in the monorepo)."""
    path.mkdir(parents=True)
    for rel in (
        "gitops/compose.base.yaml",
        "gitops/environments/local/compose.yaml",
        "gitops/proxy/haproxy.cfg",  # a Swarm stack's proxy config is rendered from it
    ):
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text((ROOT / rel).read_text())
    git(path, "init", "-q", "-b", "main")
    return commit_manifest(path, manifest, message)


def commit_manifest(repo: Path, manifest: Manifest, message: str) -> str:
    target = repo / "gitops" / "versions" / f"{manifest.environment}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(dumps(manifest))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def gitops_repo_on(path: Path, manifest: Manifest, message: str, hosts: str) -> str:
    """make_gitops_repo, then a commit that adds the local environment's hosts.yaml
    (`hosts`: a fleet's or a Swarm's); returns that commit."""
    make_gitops_repo(path, manifest, message)
    target = path / "gitops" / "environments" / "local" / "hosts.yaml"
    target.write_text(hosts)
    git(path, "add", "-A")
    git(path, "commit", "-qm", "local: hosts.yaml")
    return git(path, "rev-parse", "HEAD")


class AgentProcess:
    """`./inv agent` as a user runs it, in the background; its JSON log in a file."""

    def __init__(
        self, stack: GitopsStack, repo: Path, home: Path, *extra: str, env=None
    ):
        self.stack, self.repo, self.home = stack, repo, home
        self.port = free_port()
        self.extra = extra
        self.env = env or {}
        self.logs: list[Path] = []
        self.proc: subprocess.Popen | None = None

    def start(self) -> "AgentProcess":
        log = self.home.parent / f"agent-{len(self.logs)}.log"
        self.logs.append(log)
        self.proc = subprocess.Popen(
            [
                str(ROOT / "inv"),
                "agent",
                "--env",
                "local",
                "--repo",
                str(self.repo),
                "--project",
                self.stack.project,
                "--interval",
                "1",
                "--listen",
                f"127.0.0.1:{self.port}",
                "--state-dir",
                str(self.home),
                *self.extra,
            ],
            cwd=ROOT,
            stdout=open(log, "w"),
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
        )
        self.wait(lambda s: s is not None, 60, "the agent's /status")
        return self

    def status(self) -> dict | None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            conn.request("GET", "/status")
            return json.loads(conn.getresponse().read())
        except (OSError, ValueError, http.client.HTTPException):
            return None

    def get(self, path: str) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode()

    def wait(self, predicate, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"the agent exited ({self.proc.returncode}):\n"
                    + self.output()[-3000:]
                )
            status = self.status()
            try:
                if predicate(status):
                    return status
            except (KeyError, TypeError, IndexError):
                pass
            time.sleep(0.5)
        raise AssertionError(
            f"timed out waiting for {what}; last status: "
            f"{json.dumps(status, default=str)[:1500]}\n{self.output()[-3000:]}"
        )

    def output(self) -> str:
        return "".join(p.read_text() for p in self.logs if p.exists())

    def events(self, name: str | None = None) -> list[dict]:
        out = []
        for line in self.output().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and (name is None or event.get("event") == name):
                out.append(event)
        return out

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)
