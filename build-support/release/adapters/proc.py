"""Runs external commands given as argument lists (never shell strings)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from release.base.errors import CommandError


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run(
    cmd: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    capture: bool = True,
    check: bool = True,
    timeout: float | None = None,
    input_text: str | None = None,
) -> subprocess.CompletedProcess:
    """Runs `cmd`; on failure raises CommandError naming the command and its last lines.

    With capture=False the command's output streams to the terminal (long builds).
    """
    full_env = {**os.environ, **(env or {})}
    if (
        shutil.which(cmd[0], path=full_env.get("PATH")) is None
        and not Path(cmd[0]).exists()
    ):
        raise CommandError(f"'{cmd[0]}' is not installed or not on PATH")
    try:
        proc = subprocess.run(
            list(cmd),
            cwd=cwd,
            env=full_env,
            text=True,
            capture_output=capture,
            timeout=timeout,
            input=input_text,
            stdin=None if input_text is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandError(
            f"'{' '.join(cmd[:4])}' timed out after {timeout:.0f}s"
        ) from exc
    if check and proc.returncode != 0:
        detail = (
            _tail((proc.stderr or "") + "\n" + (proc.stdout or "")) if capture else ""
        )
        message = f"'{' '.join(cmd[:6])}' failed (exit {proc.returncode})"
        raise CommandError(message + (f":\n{detail}" if detail else ""))
    return proc


def output(cmd: Sequence[str], **kwargs) -> str:
    """Runs `cmd` and returns its stripped stdout."""
    return run(cmd, **kwargs).stdout.strip()


def run_teed(cmd: Sequence[str], **kwargs) -> tuple[int, str]:
    """Runs `cmd` with its stdout on the terminal as it comes (a long run shows its
    progress) and kept: (exit code, stdout). kwargs go to Popen (cwd, env)."""
    kept: list[str] = []
    with subprocess.Popen(
        list(cmd), stdout=subprocess.PIPE, text=True, bufsize=1, **kwargs
    ) as child:
        assert child.stdout is not None
        for line in child.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            kept.append(line)
    return child.returncode, "".join(kept)
