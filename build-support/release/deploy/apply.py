"""Carries out a plan: each changed service through the engine, in the plan's order
or side by side, and what each one did.

The plan's action decides whether a service is touched at all (`none` is skipped);
the engine's steps (steps.py) then take it from what runs to what is desired, which
covers create, roll, scale and remove alike.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from release.deploy.engine import Engine
from release.deploy.results import Outcome, StepFailed
from release.errors import ReleaseError
from release.desired import ROLE_HTTP, ROLE_PROXY, Desired, Unit
from release.plan import Plan, ServicePlan
from release.plan import classify


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


def apply(
    engine: Engine,
    plan: Plan,
    units: Mapping[str, Unit],
    desired: Mapping[str, Desired],
    parallel: bool = False,
) -> list[Outcome]:
    """One service at a time in the plan's order (a failure stops the rest); with
    `parallel`, one lane per manifest entry (API, then its worker) after the proxy,
    since services share nothing but the proxy's runtime API, whose per-backend
    commands are independent. Then the proxy is tidied (see tidy_proxy)."""
    outcomes = _apply(engine, plan, units, desired, parallel)
    tidy_proxy(engine, plan.services, units, desired)
    return outcomes


def _apply(engine, plan, units, desired, parallel) -> list[Outcome]:
    changes = list(plan.changes)

    def one(s: ServicePlan) -> Outcome:
        return run_service(engine, units[s.service], desired[s.service], s)

    def run_lane(lane: Sequence[ServicePlan]) -> list[Outcome]:
        done: list[Outcome] = []
        for s in lane:
            failed = any(o.result == "failed" for o in done)  # stops the lane
            done.append(_skipped(s) if failed else one(s))
        return done

    if not parallel:
        return run_lane(changes)
    first = [s for s in changes if units[s.service].role == ROLE_PROXY]
    outcomes = [one(s) for s in first]
    lanes: dict[str, list[ServicePlan]] = {}
    for s in changes:
        if s not in first:
            lanes.setdefault(s.entry, []).append(s)
    if any(o.result == "failed" for o in outcomes):
        return outcomes + [_skipped(s) for lane in lanes.values() for s in lane]
    with ThreadPoolExecutor(max_workers=max(1, len(lanes))) as pool:
        for done in pool.map(run_lane, lanes.values()):
            outcomes += done
    order = {s.service: i for i, s in enumerate(changes)}
    return sorted(outcomes, key=lambda o: order.get(o.service, 0))


def tidy_proxy(
    engine: Engine,
    services: Sequence[ServicePlan],
    units: Mapping[str, Unit],
    desired: Mapping[str, Desired],
) -> None:
    """After a deploy: slots a killed run left held go back to `ready` for services
    that are in sync (their running containers are all current)."""
    p = engine.platform
    proxy = p.proxy()
    if proxy is None:
        return
    for s in services:
        if units[s.service].role != ROLE_HTTP or s.service not in desired:
            continue
        running = [c for c in p.containers(s.service) if c.state == "running"]
        if classify(running, desired[s.service].config_hash).retire:
            continue
        ips = {c.ip for c in running}
        servers = proxy.servers(s.service)
        held = [x.name for x in servers if x.forced and (x.empty or x.addr in ips)]
        if held:
            proxy.set_state(s.service, held, "ready")
            engine.step(s.service, "tidy", f"released {len(held)} held proxy slot(s)")
