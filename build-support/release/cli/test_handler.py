import os
import signal

import pytest
from invoke import Exit

from release.base.errors import LockError
from release.cli.handler import handles_errors


def test_sigterm_ends_a_task_like_ctrl_c_and_the_handler_is_given_back(capsys):
    cleaned = []

    @handles_errors
    def task():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            signal.pause()  # pragma: no cover - the signal arrives first
        finally:
            cleaned.append("lock released")  # a `with` block's exit runs

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Exit) as exc:
        task()
    assert exc.value.code == 130
    assert cleaned == ["lock released"]
    assert "interrupted" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_release_error_is_one_line_and_its_exit_code(capsys):
    @handles_errors
    def task():
        raise LockError("the prod deploy lock is held by ci@runner")

    with pytest.raises(Exit) as exc:
        task()
    assert exc.value.code == 4
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("the prod deploy lock is held by ci@runner")
    )
