"""Git for the GitOps manifests: who is releasing, the history of a manifest file,
and a commit of exactly one path. Every function takes the repository root, so tests
run on scratch repositories. Nothing here rewrites history: commits are only added.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from release.adapters import proc
from release.base.errors import CommandError, UsageError
from release.model.revision import Revision

_SEP = "\x1f"


def git(root: Path, *args: str, input_text: str | None = None) -> str:
    return proc.run(["git", *args], cwd=root, input_text=input_text).stdout.strip()


def _ok(root: Path, *args: str) -> bool:
    return proc.run(["git", *args], cwd=root, check=False).returncode == 0


def relative(root: Path, path: Path) -> str:
    return path.resolve().relative_to(root.resolve()).as_posix()


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD")


def branch(root: Path) -> str:
    """The branch being released; CI's detached checkouts name it in GITHUB_REF_NAME."""
    name = git(root, "rev-parse", "--abbrev-ref", "HEAD")
    if name == "HEAD":
        return os.environ.get("GITHUB_HEAD_REF") or os.environ.get(
            "GITHUB_REF_NAME", "detached"
        )
    return name


def is_dirty(root: Path) -> bool:
    """Tracked files differ from HEAD (untracked files do not count)."""
    return bool(git(root, "status", "--porcelain", "--untracked-files=no"))


def dirty_fingerprint(root: Path) -> str:
    """A hash of the uncommitted changes to tracked files ("" for a clean tree)."""
    diff = proc.run(["git", "diff", "HEAD", "--binary"], cwd=root).stdout
    return hashlib.sha256(diff.encode()).hexdigest() if diff else ""


def is_ancestor(root: Path, older: str, newer: str) -> bool:
    return _ok(root, "merge-base", "--is-ancestor", older, newer)


def is_ignored(root: Path, rel: str) -> bool:
    return _ok(root, "check-ignore", "-q", "--", rel)


def is_tracked(root: Path, rel: str) -> bool:
    return _ok(root, "ls-files", "--error-unmatch", "--", rel)


def has_changes(root: Path, rel: str) -> bool:
    """The path differs from HEAD in the index or working tree (or is new)."""
    return bool(git(root, "status", "--porcelain", "--", rel))


def check_identity(root: Path) -> None:
    if not _ok(root, "var", "GIT_COMMITTER_IDENT"):
        raise UsageError(
            "git does not know who you are: set user.name and user.email "
            "(git config user.email you@example.com) to record a release"
        )


def actor(root: Path) -> str:
    """Who releases: the CI actor, else git's user, else the login name."""
    if os.environ.get("CI") and os.environ.get("GITHUB_ACTOR"):
        return f"{os.environ['GITHUB_ACTOR']} (ci)"
    for key in ("user.email", "user.name"):
        r = proc.run(["git", "config", key], cwd=root, check=False)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip()
    return os.environ.get("USER") or os.environ.get("LOGNAME") or "unknown"


def commit_only(root: Path, rel: str, message: str) -> str:
    """Commits exactly `rel` (whatever else is staged stays staged, uncommitted) and
    returns the new commit. On failure nothing is committed and the index is as before.
    """
    added = not is_tracked(root, rel)
    if added:
        git(root, "add", "--", rel)
    try:
        git(root, "commit", "--quiet", "--only", "-m", message, "--", rel)
    except CommandError:
        if added:
            proc.run(["git", "rm", "--cached", "-q", "--", rel], cwd=root, check=False)
        raise
    return head(root)


def file_history(root: Path, rel: str) -> list[Revision]:
    """Every commit on HEAD's history that touched `rel`, oldest first, with the
    file's text at each (one `git log` and one `git cat-file --batch`)."""
    fmt = _SEP.join(["%H", "%an <%ae>", "%cI", "%s"])
    log = git(root, "log", "--reverse", f"--format={fmt}", "--", rel)
    rows = [line.split(_SEP, 3) for line in log.splitlines() if line]
    if not rows:
        return []
    texts = _blobs(root, [f"{sha}:{rel}" for sha, *_ in rows])
    return [
        Revision(sha, author, when, subject, text)
        for (sha, author, when, subject), text in zip(rows, texts)
    ]


def commits_touching(root: Path, rels: list[str]) -> list[str]:
    """Commits on HEAD's history that touched any of `rels`, newest first."""
    return git(root, "log", "--format=%H", "--", *rels).split()


def _blobs(root: Path, specs: list[str]) -> list[bytes | None]:
    """`git cat-file --batch` for many `<commit>:<path>` at once, as stored: bytes,
    decoded where they are parsed (an old revision need not be UTF-8)."""
    r = subprocess.run(
        ["git", "cat-file", "--batch"],
        cwd=root,
        input="".join(f"{s}\n" for s in specs).encode(),
        capture_output=True,
    )
    if r.returncode != 0:
        stderr = r.stderr.decode(errors="replace").strip()
        raise CommandError(f"git cat-file failed: {stderr}")
    out = r.stdout
    texts: list[bytes | None] = []
    pos = 0
    for _ in specs:
        end = out.index(b"\n", pos)
        header = out[pos:end].decode().split()
        pos = end + 1
        if len(header) == 3 and header[1] == "blob":
            size = int(header[2])
            texts.append(out[pos : pos + size])
            pos += size + 1
        else:  # "<spec> missing": the commit deleted the file
            texts.append(None)
    return texts
