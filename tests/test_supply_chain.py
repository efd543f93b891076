"""The supply chain of the tooling itself, on temporary copies of the scripts:

- `./inv` installs its venv from a hashed lock with pip --require-hashes: a lock whose
  hash does not match the package's file is refused and nothing is installed; a lock
  older than tooling-requirements.txt is refused before any venv is made;
- `./pants` installs the pex package that builds its pex tool with --require-hashes:
  a tampered pin is refused before any pex (or Pants) runs.

(The base image's digest check is a unit test: build-support/release/images.)
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = "six==1.17.0"  # small, no dependencies
WRONG = "0" * 64


def _env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PANTS_", "PIP_"))}
    env.pop("ECOTRACK_CACHE_ADDRESS", None)
    env.update(extra)
    return env


def _inv_root(tmp_path: Path, lock_body: str, reqs: str = PKG + "\n") -> Path:
    root = tmp_path / "repo"
    (root / "3rdparty" / "python").mkdir(parents=True)
    shutil.copy(ROOT / "inv", root / "inv")
    req_file = root / "3rdparty" / "python" / "tooling-requirements.txt"
    req_file.write_text(reqs)
    sha = hashlib.sha256(req_file.read_bytes()).hexdigest()
    (root / "3rdparty" / "python" / "tooling-requirements.lock.txt").write_text(
        f"# requirements-sha256: {sha}\n{lock_body}"
    )
    return root


def _run(cmd, cwd, env, timeout=600):
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _six_installed(root: Path) -> bool:
    return any((root / ".venv" / "lib").glob("python3.11/site-packages/six.py"))


def test_inv_refuses_a_lock_whose_hash_does_not_match(tmp_path):
    root = _inv_root(tmp_path, f"{PKG} --hash=sha256:{WRONG}\n")
    r = _run(["./inv", "--help"], root, _env())
    assert r.returncode != 0
    assert "DO NOT MATCH THE HASHES" in r.stderr, r.stderr[-2000:]
    assert "inv: installing the tooling lock failed" in r.stderr
    assert not _six_installed(root)
    assert not (root / ".venv" / ".requirements.sha256").exists()


def test_inv_refuses_a_lock_older_than_its_requirements(tmp_path):
    root = _inv_root(tmp_path, f"{PKG} --hash=sha256:{WRONG}\n")
    reqs = root / "3rdparty" / "python" / "tooling-requirements.txt"
    reqs.write_text(PKG + "\npyyaml==6.0.4\n")  # edited, the lock not regenerated
    r = _run(["./inv", "--help"], root, _env())
    assert r.returncode == 1
    assert r.stderr.strip().endswith("regenerate it (see its header)"), r.stderr
    assert not (root / ".venv").exists()


def test_pants_refuses_a_tampered_pex_pin_before_running_any_pex(tmp_path):
    root, cache = tmp_path / "repo", tmp_path / "bootstrap-cache"
    root.mkdir()
    text = (ROOT / "pants").read_text()
    pins = re.search(r"PEX_DIST_SHA256=\(\s*([0-9a-f]{64})\s+([0-9a-f]{64})", text)
    assert pins, "./pants pins the pex distribution's sha256"
    tampered = text.replace(pins.group(1), WRONG).replace(pins.group(2), WRONG)
    (root / "pants").write_text(tampered)
    (root / "pants").chmod(0o755)
    shutil.copy(ROOT / "pants.toml", root / "pants.toml")
    marker = tmp_path / "ran"
    # A Pants venv that is "installed" (its launcher only leaves a mark) and a
    # tampered pex tool in place (it too only leaves a mark if anything runs it).
    venv_bin = cache / "pants-2.17.1-py39" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin.parent / ".complete").touch()
    for path in (venv_bin / "pants", root / "build-support" / "bin" / "pex"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'#!/bin/sh\necho "$0" >> {marker}\n')
        path.chmod(0o755)
    r = _run(["./pants", "--version"], root, _env(PANTS_BOOTSTRAP_CACHE=str(cache)))
    assert r.returncode != 0
    assert "DO NOT MATCH THE HASHES" in r.stderr, r.stderr[-2000:]
    assert not marker.exists(), marker.read_text()
    assert not (cache / "pex-2.1.137").exists()
