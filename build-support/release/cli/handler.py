"""The task layer's one error handler: a ReleaseError becomes `error: <line>` and
its exit code; anything else is a bug and keeps its traceback.

It is also where signals are handled: SIGTERM (a cancelled CI job, `docker stop`,
systemd) is turned into Ctrl-C for the task it wraps, so a deploy aborts the same
clean way (rolled back, lock released, "interrupted", exit 130). The agent sets its
own handlers on top (cli/agent.py): it stops between passes.
"""

from __future__ import annotations

import functools
import signal
import threading

from invoke import Exit

from release.base import console, exit_codes
from release.base.errors import ReleaseError


def exit_with(code: int) -> None:
    """The one way a task ends with a non-zero code it computed."""
    if code:
        raise Exit(code=code)


def handles_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        previous = _sigterm_interrupts()
        try:
            return fn(*args, **kwargs)
        except ReleaseError as exc:
            console.error(str(exc))
            raise Exit(code=exc.exit_code) from None
        except KeyboardInterrupt:
            console.error("interrupted")
            raise Exit(code=exit_codes.INTERRUPTED) from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    return wrapper


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _sigterm_interrupts():
    """SIGTERM raises KeyboardInterrupt from here on; the previous handler (None
    off the main thread, where signals cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _interrupt)
