"""The one wait of the deploy engine: poll a probe until done, failed or too late."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from release.engine.results import StepFailed
from release.model.live import LiveContainer


@dataclass(frozen=True)
class Probe:
    done: bool
    failed: str = ""
    detail: str = ""
    container: str = ""
    slow: tuple[str, ...] = ()  # names whose health checks run out of time


def wait_for(
    what: str,
    probe: Callable[[], Probe],
    timeout: float,
    interval: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Polls `probe` until it is done (returns the seconds it took), fails fast when it
    reports a failure, or raises StepFailed once the deadline has passed."""
    started = clock()
    deadline = started + timeout
    while True:
        result = probe()
        if result.failed:
            raise StepFailed(result.failed, result.container)
        if result.done:
            return clock() - started
        if clock() >= deadline:
            raise StepFailed(
                f"{what}: not done after {timeout:.0f}s ({result.detail})",
                result.container,
            )
        sleep(interval)


def health_probe(
    containers: Sequence[LiveContainer | None],
    passes_check_now: Callable[[LiveContainer], bool] | None = None,
) -> Probe:
    """Docker's health of the given containers: all healthy (or without a health
    check and running) is done; unhealthy, exited or restarting fails at once.

    Unhealthy by timeouts alone is not a verdict: a busy host makes a sound replica
    miss Docker's 3 s three times in a row. It is waited on, and asked again, until
    it passes or the gate's deadline has passed; a check that fails still fails
    at once.

    `passes_check_now` (HTTP services on a reachable engine) runs the HEALTHCHECK of
    a container that Docker still reports `starting` from here, the same command
    Docker runs: Docker 20.10 runs it first one full interval (5 s) after the
    start, with no faster start interval. A pass counts as healthy; every failure
    Docker reports still fails at once, and the proxy's own check still has to see
    the replica UP before it gets traffic."""
    slow = []
    for c in containers:
        if c is None:
            return Probe(False, failed="a new container disappeared")
        if c.state != "running" or c.restart_count > 0:
            return Probe(
                False,
                failed=f"{c.name} {c.state} (exit {c.exit_code}, "
                f"restarts {c.restart_count})",
                container=c.id,
            )
        if c.health == "unhealthy":
            if not c.checks_timed_out:
                return Probe(False, failed=f"{c.name} is unhealthy", container=c.id)
            slow.append(c.name)
    ready = [
        c
        for c in containers
        if c.health in ("healthy", "none")
        or (
            c.health in ("starting", "unhealthy")
            and passes_check_now
            and passes_check_now(c)
        )
    ]
    waiting = next((c for c in containers if c not in ready), None)
    detail = f"{len(ready)}/{len(containers)} healthy"
    if slow:
        detail += f"; health checks of {', '.join(slow)} time out"
    return Probe(
        done=len(ready) == len(containers),
        detail=detail,
        container=waiting.id if waiting else "",
        slow=tuple(slow),
    )
