"""The replay's runner and its records: what started a run (Event), the account
steps run as (RunnerUser: not root, passwordless sudo, as on a hosted runner), and
the Runner that holds a replay's log, tools and artifacts (testing/workflow_replay.py
runs the jobs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from testing.workflow_actions import (
    GH_STANDIN,
    ReplayError,
)

ROOT = Path(__file__).resolve().parents[1]

SUCCESS, FAILURE, SKIPPED = "success", "failure", "skipped"


@dataclass
class Event:
    """What started the run: `push`, `pull_request` or `workflow_dispatch`."""

    name: str
    sha: str
    ref: str = "refs/heads/main"
    before: str = ""
    inputs: dict = field(default_factory=dict)
    base_sha: str = ""  # pull_request: the base branch's commit

    def payload(self) -> dict:
        if self.name == "push":
            return {"before": self.before, "after": self.sha, "ref": self.ref}
        if self.name == "pull_request":
            return {
                "pull_request": {
                    "base": {"sha": self.base_sha},
                    "head": {"sha": self.sha},
                }
            }
        if self.name == "workflow_dispatch":
            return {"inputs": dict(self.inputs)}
        raise ReplayError(f"events of kind {self.name!r} are not replayed")


@dataclass
class StepLog:
    job: str
    name: str
    result: str
    output: str = ""
    seconds: float | None = None


@dataclass
class JobResult:
    result: str
    outputs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunnerUser:
    """The account steps run as: not root, passwordless sudo, in the docker group,
    as GitHub's `runner` user is."""

    name: str
    home: Path

    @classmethod
    def ensure(cls, name: str = "ecotrack-runner", sudo: bool = True) -> "RunnerUser":
        """Creates the account (once; needs root); `sudo=False`: a runner without
        passwordless sudo (a self-hosted one, say)."""
        if os.geteuid() != 0:
            raise ReplayError("creating the runner's account needs root")
        if subprocess.run(["id", name], capture_output=True).returncode != 0:
            groups = ["-G", "docker"] if _group_exists("docker") else []
            subprocess.run(
                ["useradd", "--create-home", "--shell", "/bin/bash", *groups, name],
                check=True,
                capture_output=True,
            )
        sudoers = Path(f"/etc/sudoers.d/{name}")
        if sudo and not sudoers.exists():
            sudoers.write_text(f"{name} ALL=(ALL) NOPASSWD:ALL\n")
            sudoers.chmod(0o440)
        home = Path(
            subprocess.run(
                ["getent", "passwd", name], capture_output=True, text=True, check=True
            ).stdout.split(":")[5]
        )
        user = cls(name, home)
        # The remote belongs to the test (root): the account trusts other owners'
        # repositories, as actions/checkout makes a runner trust its workspace.
        subprocess.run(
            user.command(
                ["git", "config", "--global", "safe.directory", "*"],
                {"PATH": os.environ["PATH"]},
            ),
            check=True,
            capture_output=True,
        )
        return user

    def remove(self) -> None:
        self.end_session()
        for d in _REACHED.pop(self.name, []):
            subprocess.run(["setfacl", "-x", f"u:{self.name}", d], capture_output=True)
        Path(f"/etc/sudoers.d/{self.name}").unlink(missing_ok=True)
        subprocess.run(["userdel", "--remove", self.name], capture_output=True)

    def reach(self, path: Path) -> None:
        """Lets the account traverse (only traverse: an ACL entry `x`, taken back by
        remove) each directory above `path` it could not, e.g. root's 0700 home above
        the interpreters setup-python hands out."""
        for d in reversed(Path(path).parents):
            probe = self.command(["test", "-x", str(d)], {"PATH": "/usr/bin:/bin"})
            if subprocess.run(probe, capture_output=True).returncode != 0:
                subprocess.run(
                    ["setfacl", "-m", f"u:{self.name}:x", str(d)], check=True
                )
                _REACHED.setdefault(self.name, []).append(str(d))

    def end_session(self) -> None:
        """What a hosted runner's VM does at a job's end: nothing of the job's keeps
        running (a pantsd, an ssh master)."""
        subprocess.run(["pkill", "-KILL", "-u", self.name], capture_output=True)

    def own(self, *paths: Path) -> None:
        subprocess.run(["chown", "-R", f"{self.name}:", *map(str, paths)], check=True)

    def command(self, argv: list[str], env: Mapping[str, str]) -> list[str]:
        """`argv` as this user, with exactly `env` (plus its HOME and USER)."""
        full = {**env, "HOME": str(self.home), "USER": self.name}
        pairs = [f"{k}={v}" for k, v in full.items()]
        return ["sudo", "-n", "-u", self.name, "env", "-i", *pairs, *argv]


_REACHED: dict[str, list[str]] = {}  # account → directories given an ACL entry


def _group_exists(name: str) -> bool:
    return (
        subprocess.run(["getent", "group", name], capture_output=True).returncode == 0
    )


@dataclass
class Runner:
    """The simulated GitHub: the bare remote, the repository's secrets, a work dir
    for checkouts, RUNNER_TEMP and artifacts, the environment every step gets, and
    the account steps run as (None: this process's own)."""

    remote: Path
    work: Path
    secrets: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    python: dict = field(default_factory=dict)  # setup-python version → interpreter
    user: RunnerUser | None = None
    prepare_checkout: Callable[[Path], None] | None = None
    aws_endpoint: str = ""  # the stand-in for AWS's APIs (STS, ECR): moto's server
    environments: dict = field(default_factory=dict)  # GitHub environment → secrets
    log: list[StepLog] = field(default_factory=list)

    def __post_init__(self):
        self.work.mkdir(parents=True, exist_ok=True)
        for name in ("bin", "pulls", "cache"):
            (self.work / name).mkdir(exist_ok=True)
        gh = self.work / "bin" / "gh"
        gh.write_text(GH_STANDIN.format(pulls=self.work / "pulls"))
        gh.chmod(0o755)
        if self.user:
            self.user.own(self.work / "pulls")

    def with_tools(self, env: Mapping[str, str]) -> dict:
        """`env` with the runner's own tools (the `gh` stand-in) first on PATH."""
        return {**env, "PATH": f"{self.work / 'bin'}:{env.get('PATH', '')}"}

    def summary(self, tail: int = 6) -> str:
        """The log: every job's steps, their results and the end of what they
        printed (more of it for a failed step)."""
        out = []
        for entry in self.log:
            took = f" | {entry.seconds:.1f} s" if entry.seconds is not None else ""
            out.append(f"{entry.job} | {entry.name} | {entry.result}{took}")
            lines = [line for line in entry.output.splitlines() if line.strip()]
            if entry.result != "note":
                keep = tail * 10 if entry.result == FAILURE else tail
                out += [f"    {line}" for line in lines[-keep:]]
        return "\n".join(out) + "\n"

    def pulls(self) -> list[dict]:
        """The pull requests `gh pr create` opened, oldest first."""
        files = sorted((self.work / "pulls").glob("*.json"), key=lambda p: int(p.stem))
        return [json.loads(p.read_text()) for p in files]

    def fresh_dir(self, path: Path) -> Path:
        """`path`, emptied: each job starts on a clean machine."""
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        if self.user:
            self.user.own(path)
        return path

    def artifacts(self) -> Path:
        path = self.work / "artifacts"
        path.mkdir(parents=True, exist_ok=True)
        if self.user:
            self.user.own(path)
        return path

    def command(self, argv: list[str], env: Mapping[str, str]) -> list[str]:
        return self.user.command(argv, env) if self.user else argv


def read_pairs(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV: `key=value` lines and `key<<DELIM` blocks."""
    out: dict[str, str] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            end = lines.index(delim, i + 1)
            out[key] = "\n".join(lines[i + 1 : end])
            i = end + 1
            continue
        if "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
        elif line.strip():
            raise ReplayError(f"{path.name}: cannot read line {line!r}")
        i += 1
    return out


def env_of_machine() -> dict:
    """The variables a hosted runner has that the steps rely on (PATH, HOME, ...)."""
    keep = ("PATH", "HOME", "LANG", "USER", "XDG_CACHE_HOME", "TMPDIR")
    return {k: os.environ[k] for k in keep if k in os.environ}
