"""./pants on a machine without Python 3.9: one line naming what is missing."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(
    any(Path(p).exists() for p in ("/usr/bin/python3.9", "/usr/local/bin/python3.9")),
    reason="this machine has a system-wide Python 3.9",
)
def test_pants_without_python39_names_the_fix(tmp_path):
    # A copy of the script in an empty "repo", with no pyenv and no cached venv.
    shutil.copy2(ROOT / "pants", tmp_path / "pants")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PANTS_BOOTSTRAP_CACHE": str(tmp_path / "cache"),
    }
    r = subprocess.run(
        [str(tmp_path / "pants"), "--version"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "no Python 3.9 found" in lines[0]
    assert "official 'pants' launcher" in lines[0]
    assert not os.path.exists(tmp_path / "cache" / "pants-2.17.1-py39" / ".complete")
