"""Reads facts about the working copy from git (read-only: nothing here changes the
repository's refs, index or working tree)."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from release.adapters import proc
from release.base.errors import GitError, UnknownRefError
from release.base.layout import ROOT

UNSHALLOW_HINT = (
    "fetch full history: git fetch --unshallow (CI: checkout with fetch-depth: 0)"
)


def git(*args: str, cwd: Path = ROOT) -> str:
    return proc.output(["git", *args], cwd=cwd)


def _try(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return proc.run(["git", *args], cwd=cwd, check=False)


def head_sha(cwd: Path = ROOT) -> str:
    return git("rev-parse", "HEAD", cwd=cwd)


def is_dirty(cwd: Path = ROOT) -> bool:
    """Tracked changes only: untracked files do not make a build differ from HEAD."""
    return bool(git("status", "--porcelain", "--untracked-files=no", cwd=cwd))


def current_branch(cwd: Path = ROOT) -> str:
    name = git("rev-parse", "--abbrev-ref", "HEAD", cwd=cwd)
    return "detached" if name == "HEAD" else name


# -- refs and history ---------------------------------------------------------------


def is_shallow(cwd: Path = ROOT) -> bool:
    return git("rev-parse", "--is-shallow-repository", cwd=cwd) == "true"


def _shallow_commits(cwd: Path) -> set[str]:
    path = Path(git("rev-parse", "--git-path", "shallow", cwd=cwd))
    path = path if path.is_absolute() else cwd / path
    try:
        return set(path.read_text().split())
    except OSError:
        return set()


def resolve_commit(ref: str, cwd: Path = ROOT) -> str:
    r = _try(
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        f"{ref}^{{commit}}",
        cwd=cwd,
    )
    if r.returncode != 0 or not r.stdout.strip():
        hint = f"; or {UNSHALLOW_HINT}" if is_shallow(cwd) else ""
        raise UnknownRefError(
            f"unknown ref '{ref}': no such branch, tag or commit in this clone "
            f"(fetch it first, e.g. git fetch origin <branch>{hint})"
        )
    return r.stdout.strip()


def merge_base(ref: str, cwd: Path = ROOT) -> str:
    """The merge-base of `ref` and HEAD; never a guess in a shallow clone: if the
    history between either tip and the merge-base is cut off, it fails."""
    commit = resolve_commit(ref, cwd)
    shallow = is_shallow(cwd)
    r = _try("merge-base", commit, "HEAD", cwd=cwd)
    if r.returncode != 0 or not r.stdout.strip():
        if shallow:
            raise GitError(
                f"this shallow clone lacks the merge-base of '{ref}' and HEAD: "
                f"{UNSHALLOW_HINT}"
            )
        raise GitError(f"'{ref}' and HEAD have no common history (no merge-base)")
    base = r.stdout.strip()
    if shallow:
        # Exact only if no commit between either tip and the merge-base had its parents
        # cut off: otherwise a later common ancestor might be missing from this clone.
        between = git("rev-list", f"{base}..HEAD", f"{base}..{commit}", cwd=cwd).split()
        if _shallow_commits(cwd) & set(between):
            raise GitError(
                f"this shallow clone may lack the merge-base of '{ref}' and HEAD: "
                f"{UNSHALLOW_HINT}"
            )
    return base


def tree_of(ref: str, cwd: Path = ROOT) -> str:
    return git("rev-parse", f"{ref}^{{tree}}", cwd=cwd)


# -- changed files ------------------------------------------------------------------


@dataclass(frozen=True)
class FileChange:
    status: str  # git's letter: A, M, D, R, C, T
    path: str
    old_path: str = ""  # renames and copies


def _name_status(out: str) -> list[FileChange]:
    fields = out.split("\0")
    changes, i = [], 0
    while i < len(fields) and fields[i]:
        status = fields[i][0]
        if status in "RC":
            changes.append(FileChange(status, fields[i + 2], fields[i + 1]))
            i += 3
        else:
            changes.append(FileChange(status, fields[i + 1]))
            i += 2
    return changes


def changed_files(
    base: str, committed_only: bool = False, cwd: Path = ROOT
) -> list[FileChange]:
    """Files that differ between `base` and HEAD, plus (unless committed_only) the
    uncommitted changes and the untracked files git does not ignore."""
    diff = ["diff", "--name-status", "-z", "-M", "--no-ext-diff", base]
    changes = _name_status(
        proc.run(["git", *diff, *(["HEAD"] if committed_only else [])], cwd=cwd).stdout
    )
    if not committed_only:
        changes += [FileChange("A", p) for p in untracked_files(cwd)]
    return changes


def untracked_files(cwd: Path = ROOT) -> list[str]:
    out = proc.run(
        ["git", "ls-files", "-z", "--others", "--exclude-standard"], cwd=cwd
    ).stdout
    return [p for p in out.split("\0") if p]


def read_at(ref: str, path: str, cwd: Path = ROOT) -> str | None:
    """A file's text at `ref`, or None when it does not exist there."""
    r = _try("cat-file", "blob", f"{ref}:{path}", cwd=cwd)
    return r.stdout if r.returncode == 0 else None


def working_tree_key(cwd: Path = ROOT) -> str:
    """A digest of the content of every tracked and untracked-not-ignored file, as the
    working tree holds it (HEAD's tree plus the hashes of what differs): equal keys
    mean equal files. Computed without writing to the repository."""
    tree = tree_of("HEAD", cwd)
    out = proc.run(
        ["git", "diff", "--name-status", "-z", "--no-renames", "HEAD"], cwd=cwd
    ).stdout
    dirty = {c.path: c.status for c in _name_status(out)}
    for p in untracked_files(cwd):
        dirty[p] = "A"
    if not dirty:
        return tree  # a clean tree is identified by its git tree id
    h = hashlib.sha256(tree.encode())
    present = sorted(p for p, s in dirty.items() if s != "D")
    hashes = {}
    if present:
        r = proc.run(
            ["git", "hash-object", "--no-filters", "--stdin-paths"],
            cwd=cwd,
            input_text="\n".join(present) + "\n",
        )
        hashes = dict(zip(present, r.stdout.split()))
    for p in sorted(dirty):
        h.update(f"\0{p}\0{hashes.get(p, 'deleted')}".encode())
    return h.hexdigest()


def export_tree(ref: str, dest: Path, cwd: Path = ROOT) -> None:
    """Writes the files of `ref` into `dest` (git archive: no worktree registered, no
    change to the repository)."""
    data = subprocess.run(
        ["git", "archive", "--format=tar", ref],
        cwd=cwd,
        capture_output=True,
        check=False,
    )
    if data.returncode != 0:
        raise GitError(
            f"git archive {ref} failed: {data.stderr.decode().strip()[:200]}"
        )
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data.stdout)) as tar:
        tar.extractall(dest, filter="tar")
    os.utime(dest)
