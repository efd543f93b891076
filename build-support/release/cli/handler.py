"""The task layer's one error handler: a ReleaseError becomes `error: <line>` and
its exit code; anything else is a bug and keeps its traceback."""

from __future__ import annotations

import functools

from invoke import Exit

from release.base import console
from release.base.errors import ReleaseError


def handles_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ReleaseError as exc:
            console.error(str(exc))
            raise Exit(code=exc.exit_code) from None
        except KeyboardInterrupt:
            console.error("interrupted")
            raise Exit(code=130) from None

    return wrapper
