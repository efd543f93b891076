"""The steps of one service's rollout, decided from unit, desired and live: pure.

    HTTP service   clean_up → park → start_new → wait_healthy → let_in → drain
                   → retire → release_slots;   on failure: abort (remove the new
                   containers and those that never served, give their proxy slots
                   back)
    worker         clean_up → stop_old (finishes its job) → start_new → wait_healthy
                   → remove_old;   on failure: abort, then restart_old
    proxy          clean_up → create_new → stop_old → start_created → wait_healthy
                   → remove_old;   on failure: abort, then restart_old (the old
                   proxy serves again)   (or retire, to remove it)

Nothing is ever removed to get back to N replicas: containers running the desired
configuration are kept (the oldest N), so a re-run adopts what a killed run left and
converges. A kept replica that already served (the proxy sends it traffic) is never
removed by an abort and never waited on: an abort only ever lowers the count of
replicas serving to what it found. engine.py carries the steps out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from release.model.desired import ROLE_HTTP, ROLE_PROXY, ROLE_WORKER
from release.model.live import LiveContainer
from release.plan.plan import classify, split_current

CLEAN_UP = "clean_up"  # remove containers that are not running (serve nothing)
PARK = "park"  # empty proxy slots to maintenance: new replicas get no traffic yet
START_NEW = "start_new"  # create beside the old ones, start at a low CPU weight
CREATE_NEW = "create_new"  # the proxy: created beside the old one, not started
START_CREATED = "start_created"  # the proxy: started once the old one has stopped
WAIT_HEALTHY = "wait_healthy"  # Docker's health checks, then full CPU weight
LET_IN = "let_in"  # the proxy serves the new ones, drains the retiring ones
DRAIN = "drain"  # until the retiring ones have no request in flight
RETIRE = "retire"  # SIGTERM, grace, remove: one by one, by ID
RELEASE_SLOTS = "release_slots"  # once the proxy forgot them, held slots go back
STOP_OLD = "stop_old"  # a worker finishes its current job; the proxy frees its port
REMOVE_OLD = "remove_old"  # the stopped old one, once the new one is healthy
ADMIT = "admit"  # a canary: the proxy serves it beside the old replicas
JUDGE = "judge"  # a canary: the gate between let-in and promotion
WITHDRAW = "withdraw"  # a canary: drained out of the proxy before it goes
ABORT = "abort"  # remove what this attempt (or a killed one) started
RESTART_OLD = "restart_old"  # the old worker or proxy, when the new one failed


@dataclass(frozen=True)
class Rollout:
    """One service's steps, with the containers they act on as the plan saw them."""

    service: str
    role: str
    steps: tuple[str, ...]
    on_failure: tuple[str, ...]
    need: int  # new replicas to start
    keep: tuple[LiveContainer, ...]  # running the desired config: adopted
    retiring: tuple[LiveContainer, ...]  # another config, unhealthy, or extra
    garbage: tuple[LiveContainer, ...]  # not running
    unproven: tuple[LiveContainer, ...]  # kept, but never served (a killed run's)

    @property
    def initial_ids(self) -> frozenset[str]:
        return frozenset(c.id for c in (*self.keep, *self.retiring, *self.garbage))


def never_served(
    keep: Sequence[LiveContainer], serving: frozenset[str] | None
) -> tuple[LiveContainer, ...]:
    """The kept containers a killed attempt started that have not served yet: not in
    the proxy (`serving`: the addresses it sends traffic to), or, with no proxy to
    ask (a worker), not yet healthy once. A slow or momentarily unhealthy replica
    that served is not among them."""
    if serving is not None:
        return tuple(c for c in keep if c.ip not in serving)
    return tuple(c for c in keep if c.health == "starting")


def steps_for(
    role: str,
    service: str,
    config_hash: str,
    replicas: int,
    containers: Sequence,
    serving: frozenset[str] | None = None,
) -> Rollout:
    """The steps that take `containers` to `replicas` of `config_hash`; `serving`:
    the addresses the proxy sends this service's traffic to (None: no proxy)."""
    g = classify(containers, config_hash)
    keep, extra = split_current(g.current, replicas)
    retiring = tuple(g.retire) + tuple(extra)
    unproven = never_served(keep, serving if role == ROLE_HTTP else None)
    need = max(0, replicas - len(keep))
    clean = (CLEAN_UP,) if g.garbage else ()
    if role == ROLE_HTTP:
        steps = clean + ((PARK, START_NEW) if need else ()) + (WAIT_HEALTHY,)
        steps += (LET_IN, DRAIN, RETIRE, RELEASE_SLOTS)
        on_failure: tuple[str, ...] = (ABORT,)
    elif role == ROLE_WORKER:
        steps = clean + ((STOP_OLD,) if retiring else ())
        steps += ((START_NEW,) if need else ()) + (WAIT_HEALTHY,)
        steps += (REMOVE_OLD,) if retiring else ()
        on_failure = (ABORT, RESTART_OLD) if retiring else (ABORT,)
    elif role == ROLE_PROXY:
        if replicas == 0:
            keep, retiring, need = (), tuple(g.current) + tuple(g.retire), 0
            steps = clean + (RETIRE,)
            on_failure = ()
        elif not need:  # runs the desired config already (a scale-down, a cleanup)
            steps = clean + ((RETIRE,) if retiring else ())
            on_failure = ()
        else:
            # One published port: the new proxy is created (its image at hand)
            # beside the old one, which serves until then and is stopped, not
            # removed, until the new one is healthy; on failure it serves again.
            steps = clean + (CREATE_NEW,) + ((STOP_OLD,) if retiring else ())
            steps += (START_CREATED, WAIT_HEALTHY) + ((REMOVE_OLD,) if retiring else ())
            on_failure = (ABORT, RESTART_OLD) if retiring else (ABORT,)
    else:
        raise ValueError(f"unknown role {role!r}")
    return Rollout(
        service, role, steps, on_failure, need, keep, retiring, g.garbage, unproven
    )


def canary_steps_for(
    service: str,
    config_hash: str,
    canaries: int,
    containers: Sequence,
    serving: frozenset[str] | None = None,
) -> Rollout:
    """A canary: the HTTP steps up to the let-in, then the judge; nothing retires
    (promotion is an ordinary roll afterwards, which adopts the canaries)."""
    r = steps_for(ROLE_HTTP, service, config_hash, canaries, containers, serving)
    clean = (CLEAN_UP,) if r.garbage else ()
    start = (PARK, START_NEW) if r.need else ()
    return Rollout(
        service,
        ROLE_HTTP,
        clean + start + (WAIT_HEALTHY, ADMIT, JUDGE),
        (WITHDRAW, ABORT),
        r.need,
        r.keep,
        tuple(c for c in r.retiring if c not in r.keep),
        r.garbage,
        r.unproven,
    )
