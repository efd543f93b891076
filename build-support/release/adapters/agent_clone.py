"""The agent's own clone of the GitOps repository: fetch one branch, check out its
head (detached), read files at any commit. Lives under the agent's state directory;
nothing else writes to it, so forced checkouts there lose nothing.

The remote is a path or any URL git understands (file://, ssh://, https://).
Only `gitops/` matters to the agent: its manifest and Compose files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from release.adapters import proc
from release.base.errors import GitError, ReleaseError
from release.base.redact import redact

FETCH_TIMEOUT = 120


def desired_paths(env: str) -> tuple[str, ...]:
    """The files that make up an environment's desired state."""
    return (
        f"gitops/versions/{env}.json",
        "gitops/compose.base.yaml",
        f"gitops/environments/{env}/compose.yaml",
    )


@dataclass(frozen=True)
class Checkout:
    path: Path
    repo: str
    branch: str

    def git(self, *args: str, check: bool = True, timeout: float = 60):
        try:
            return proc.run(
                ["git", "-C", str(self.path), *args],
                check=check,
                timeout=timeout,
                env={"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"},
            )
        except ReleaseError as exc:  # the message names the command: its URL too
            raise type(exc)(redact(str(exc))) from None

    def ensure(self) -> None:
        if (self.path / ".git").is_dir():
            self.git("remote", "set-url", "origin", self.repo)
            return
        self.path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q")
        self.git("remote", "add", "origin", self.repo)

    def fetch(self) -> str:
        """Fetches the branch and returns its head commit."""
        ref = f"refs/remotes/origin/{self.branch}"
        r = self.git(
            "fetch",
            "--quiet",
            "--no-tags",
            "origin",
            f"+refs/heads/{self.branch}:{ref}",
            check=False,
            timeout=FETCH_TIMEOUT,
        )
        if r.returncode != 0:
            last = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["?"]
            raise GitError(
                redact(f"cannot fetch {self.branch} from {self.repo}: {last[0]}")
            )
        return self.git("rev-parse", ref).stdout.strip()

    def checkout(self, commit: str) -> None:
        self.git("checkout", "--quiet", "--force", "--detach", commit)

    def has(self, commit: str) -> bool:
        if not commit:
            return False
        r = self.git("cat-file", "-e", f"{commit}^{{commit}}", check=False)
        return r.returncode == 0

    def show(self, commit: str, rel: str) -> str | None:
        """The file at a commit, None when it does not exist there."""
        r = self.git("show", f"{commit}:{rel}", check=False)
        return r.stdout if r.returncode == 0 else None

    def desired_key(self, commit: str, env: str) -> str:
        """A hash of the blobs of the desired-state files at `commit`: two commits
        with the same key ask for exactly the same thing."""
        ids = []
        for rel in desired_paths(env):
            r = self.git("rev-parse", "--verify", "-q", f"{commit}:{rel}", check=False)
            ids.append(f"{rel}={r.stdout.strip() if r.returncode == 0 else '-'}")
        return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]

    def subject(self, commit: str) -> str:
        return self.git("log", "-1", "--format=%s", commit).stdout.strip()

    @property
    def gitops(self) -> Path:
        return self.path / "gitops"
