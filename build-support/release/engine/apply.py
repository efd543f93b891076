"""Carries out a plan: each changed service through the engine, in the plan's order
or side by side, and what each one did.

The plan's action decides whether a service is touched at all (`none` is skipped);
the engine's steps (steps.py) then take it from what runs to what is desired, which
covers create, roll, scale and remove alike.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from release.base.errors import LockLost, ReleaseError
from release.engine.engine import Engine
from release.engine.results import Outcome, StepFailed
from release.model.desired import ROLE_HTTP, ROLE_PROXY, Desired, Unit
from release.plan.plan import Plan, ServicePlan, classify


def run_service(
    engine: Engine, unit: Unit, desired: Desired, s: ServicePlan
) -> Outcome:
    outcome = Outcome(
        s.service,
        s.action,
        s.live.short() if s.live else "-",
        s.desired.short() if s.desired else "-",
    )
    started = time.monotonic()
    engine.reporter.info(
        f"{s.service}: {s.action} ({', '.join(s.reasons) or unit.role})"
    )
    try:
        outcome.detail = engine.roll(unit, desired.config_hash, desired.replicas)
        outcome.result = "ok"
    except LockLost:
        raise  # the whole deploy stops: its lock belongs to another one now
    except (StepFailed, ReleaseError) as exc:
        outcome.result = "failed"
        outcome.detail = f"{exc}"
    outcome.duration = time.monotonic() - started
    engine.step(
        s.service,
        "done" if outcome.result == "ok" else "FAILED",
        f"{outcome.result} in {outcome.duration:.1f}s",
    )
    return outcome


def _skipped(s: ServicePlan) -> Outcome:
    return Outcome(s.service, s.action, "-", "-")


def default_parallel(
    cpus: int | None = None, load: float | None = None, local: bool = True
) -> int:
    """Lanes a deploy runs side by side unless told (`--parallel N`).

    A roll is CPU work while new replicas start beside old ones that keep serving,
    so two lanes need about four CPUs: on 2 CPUs two lanes starved the old replicas
    of a service under 120 req/s until HAProxy marked them down (186 requests lost,
    bench/rollout.py --parts full), and were slower than one. So: one lane per two
    CPUs, at most 4, less the CPUs other work keeps busy (1-minute load average);
    a remote engine's CPUs are unknown here: one lane."""
    if not local:
        return 1
    cpus = cpus or os.cpu_count() or 1
    busy = os.getloadavg()[0] if load is None else load
    return max(1, min(4, cpus // 2, int((cpus - busy) / 2 + 0.5)))


def apply(
    engine: Engine,
    plan: Plan,
    units: Mapping[str, Unit],
    desired: Mapping[str, Desired],
    parallel: int = 1,
) -> list[Outcome]:
    """With `parallel` 1, one service at a time in the plan's order (a failure stops
    the rest). With N > 1, the proxy first, then one lane per manifest entry (its
    API, then its worker), up to N lanes at once, the longest first: services share
    nothing but the proxy's runtime API, whose calls the engine serializes. A failed
    service is rolled back by the engine (only it); no lane starts after a failure,
    lanes under way finish, and every service not started is reported as skipped.
    Then the proxy is tidied (see tidy_proxy)."""
    outcomes = _apply(engine, plan, units, desired, max(1, int(parallel)))
    tidy_proxy(engine, plan.services, units, desired)
    return outcomes


def _apply(engine, plan, units, desired, parallel: int) -> list[Outcome]:
    changes = list(plan.changes)

    def one(s: ServicePlan) -> Outcome:
        return run_service(engine, units[s.service], desired[s.service], s)

    def run_lane(lane: Sequence[ServicePlan]) -> list[Outcome]:
        done: list[Outcome] = []
        for s in lane:
            failed = any(o.result == "failed" for o in done)  # stops the lane
            done.append(_skipped(s) if failed else one(s))
        return done

    if parallel == 1:
        return run_lane(changes)
    first = [s for s in changes if units[s.service].role == ROLE_PROXY]
    outcomes = [one(s) for s in first]
    lanes: list[list[ServicePlan]] = []
    by_entry: dict[str, list[ServicePlan]] = {}
    for s in changes:
        if s not in first:
            if s.entry not in by_entry:
                by_entry[s.entry] = []
                lanes.append(by_entry[s.entry])
            by_entry[s.entry].append(s)
    if any(o.result == "failed" for o in outcomes):
        return outcomes + [_skipped(s) for lane in lanes for s in lane]
    # Longest lanes first (an API with its worker rolls twice): started last, the
    # longest lane would run on alone after the others (waste last: 20.8 s of
    # which its lane alone 11.2 s, with 4 lanes in bench/rollout.py --parts full).
    lanes.sort(key=len, reverse=True)
    outcomes += run_lanes(lanes, run_lane, parallel, engine.cancelled)
    order = {s.service: i for i, s in enumerate(changes)}
    return sorted(outcomes, key=lambda o: order.get(o.service, 0))


def run_lanes(
    lanes: Sequence[Sequence[ServicePlan]],
    run_lane: Callable[[Sequence[ServicePlan]], list[Outcome]],
    parallel: int,
    cancelled: threading.Event,
) -> list[Outcome]:
    """Up to `parallel` lanes at once, in order; once one has failed, the lanes not
    yet started are skipped (the running ones finish). Ctrl-C or SIGTERM (which
    only the main thread receives) sets `cancelled`: the running lanes abort their
    service (the engine's rollback), then KeyboardInterrupt is raised here, so
    nothing rolls on after the caller has released the deploy lock."""
    queue = list(lanes)
    lock = threading.Lock()
    outcomes: list[Outcome] = []
    errors: list[BaseException] = []
    stopped = False

    def worker(finished: threading.Event) -> None:
        try:
            work()
        finally:
            finished.set()

    def work() -> None:
        nonlocal stopped
        while True:
            with lock:
                if not queue:
                    return
                lane = queue.pop(0)
                if stopped:
                    outcomes.extend(_skipped(s) for s in lane)
                    continue
            try:
                done = run_lane(lane)
            except BaseException as exc:  # noqa: B036 (re-raised after the join)
                with lock:
                    errors.append(exc)
                    stopped = True
                return
            with lock:
                outcomes.extend(done)
                if any(o.result == "failed" for o in done):
                    stopped = True

    # Waited for through Events, not Thread.join: on 3.11 a join interrupted by
    # Ctrl-C marks a still-running thread as finished (CPython gh-90882).
    lanes_at_once = min(parallel, len(lanes))
    finished = [threading.Event() for _ in range(lanes_at_once)]
    threads = [
        threading.Thread(target=worker, args=(done,), name=f"deploy-lane-{i}")
        for i, done in enumerate(finished)
    ]
    try:
        for t in threads:
            t.start()
        for done in finished:
            done.wait()
    except KeyboardInterrupt:
        with lock:
            stopped = True  # a lane that starts from now on skips its services
        cancelled.set()
        _wait_through_signals(threads, finished)
        raise
    if errors:
        raise errors[0]
    return outcomes


def _wait_through_signals(
    threads: Sequence[threading.Thread], finished: Sequence[threading.Event]
) -> None:
    """Waits for the aborting lanes (a thread the interrupt kept from starting has
    nothing to wait for); a second Ctrl-C must not leave them behind."""
    for t, done in zip(threads, finished):
        while not done.is_set() and t.is_alive():
            try:
                done.wait(0.1)
            except KeyboardInterrupt:
                continue


def tidy_proxy(
    engine: Engine,
    services: Sequence[ServicePlan],
    units: Mapping[str, Unit],
    desired: Mapping[str, Desired],
) -> None:
    """After a deploy: slots a killed run left held go back to `ready` for services
    that are in sync (their running containers are all current)."""
    p = engine.platform
    proxy = engine.proxy_admin()
    if proxy is None:
        return
    every = proxy.all_servers()  # one docker exec, not one per backend
    for s in services:
        if units[s.service].role != ROLE_HTTP or s.service not in desired:
            continue
        running = [c for c in p.containers(s.service) if c.state == "running"]
        if classify(running, desired[s.service].config_hash).retire:
            continue
        ips = {c.ip for c in running}
        servers = every.get(s.service, [])
        held = [x.name for x in servers if x.forced and (x.empty or x.addr in ips)]
        if held:
            proxy.set_state(s.service, held, "ready")
            engine.step(s.service, "tidy", f"released {len(held)} held proxy slot(s)")
