"""`./inv deploy --env ENV` for a Swarm environment (hosts.yaml `target: swarm`).

    lock (on the manager) → look (desired, live, plan: targets/swarm/session.py)
    → render the stack file of the changed services → `docker stack deploy`
    → wait: each changed service's UpdateStatus and tasks → deploy log (+ notices)

Swarm does the rolling update itself (start-first, one task at a time, health-gated)
and rolls a service back on its own when a new task fails within `monitor` seconds.
This module only watches: a service is done when its update completed and every
task it wants running carries the new config hash; it failed when Swarm rolled it
back or paused it. Failure mode: the command exits 1 with
`<service>: swarm rolled back: <why>`, the old version serving, and the deploy log
line says `rolled_back`.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from release.base.errors import LockLost, ReleaseError
from release.base.layout import GitopsTree, check_env, project_name
from release.engine import deploy_log
from release.engine.access import HostAccess
from release.engine.events import Reporter
from release.engine.results import DeployFailed, DeployResult, Outcome
from release.model.desired import Desired
from release.model.live import LiveContainer
from release.model.manifest import Manifest, load
from release.plan.plan import ServicePlan
from release.targets.host.session import now, take_lock
from release.targets.swarm import live as swarm_live
from release.targets.swarm import session as swarm_session
from release.targets.swarm.env import SwarmEnv
from release.targets.swarm.live import DONE, ROLLED_BACK, SwarmService

WAIT = "wait"
OK = "ok"
ROLLED = "rolled_back"
FAILED = "failed"
POLL = 1.0
# Swarm's reason for a rollback ends with the ID of the task that failed
_TASK = re.compile(r"\btask ([a-z0-9]{25})$")


@dataclass(frozen=True)
class Progress:
    status: str  # wait | ok | rolled_back | failed
    detail: str


def progress(
    desired: Desired,
    service: SwarmService | None,
    tasks: Sequence[LiveContainer],
    started_before: str,
) -> Progress:
    """Where one service's update stands (pure). `started_before`: its
    UpdateStatus.StartedAt before our deploy ("" if none), so a state left over from
    an earlier update is not taken for this one's."""
    if service is None:
        return Progress(WAIT, "not created yet")
    u = service.update
    ours = u is not None and u.started_at != started_before
    running = [t for t in tasks if t.state == "running" and t.health != "starting"]
    new = [t for t in running if t.config_hash == desired.config_hash]
    counts = f"{len(new)}/{desired.replicas} new tasks running"
    if ours and u.state == ROLLED_BACK:
        return Progress(ROLLED, u.message or "rollback completed")
    if ours and u.state in ("paused", "rollback_paused"):
        return Progress(FAILED, f"swarm {u.state.replace('_', ' ')}: {u.message}")
    if ours and u.state != DONE:
        return Progress(WAIT, f"{u.state}: {counts}")
    if len(new) == desired.replicas and len(running) == desired.replicas:
        return Progress(OK, counts)
    return Progress(WAIT, counts)


def _lock_text(manifest: Manifest) -> str:
    return "swarm " + (
        ", ".join(f"{k} {v.version}" for k, v in sorted(manifest.services.items()))
        or "nothing"
    )


def _wait(
    access: HostAccess,
    client,
    view: swarm_session.SwarmView,
    changes: Sequence[ServicePlan],
    before: Mapping[str, str],
    deadline: float,
    reporter: Reporter,
) -> list[Outcome]:
    """Polls the manager until every changed service is done, rolled back or late."""
    started = time.monotonic()
    outcomes = {
        sp.service: Outcome(
            sp.service,
            sp.action,
            sp.live.short() if sp.live else "-",
            sp.desired.short() if sp.desired else "-",
        )
        for sp in changes
    }
    pending = set(outcomes)
    last: dict[str, str] = {}
    reasons: dict[str, str] = {}  # why Swarm started rolling back, while it does
    while pending:
        state = swarm_live.parse(view.stack, *access.read_stack(client, view.stack))
        for name in sorted(pending):
            service = state.services.get(name)
            p = progress(
                view.desired[name],
                service,
                state.live.for_service(name),
                before.get(name, ""),
            )
            if (
                service
                and service.update
                and service.update.state == "rollback_started"
            ):
                reasons.setdefault(name, service.update.message)
            if p.detail != last.get(name):
                reporter.step(name, "swarm_update", p.detail)
                last[name] = p.detail
            o = outcomes[name]
            if p.status == WAIT and time.monotonic() < deadline:
                continue
            o.duration = time.monotonic() - started
            pending.discard(name)
            if p.status == OK:
                o.result = OK
                reporter.step(name, "done", f"{p.detail} in {o.duration:.1f}s")
                continue
            o.result = FAILED
            if p.status == ROLLED:
                why = reasons.get(name) or p.detail
                task = _TASK.search(why)
                error = access.task_error(client, task.group(1)) if task else ""
                o.detail = f"swarm rolled back: {why}" + (
                    f" ({error})" if error else ""
                )
                reporter.step(name, "abort", o.detail)
            elif p.status == WAIT:
                o.detail = f"not converged after {deadline - started:.0f}s: {p.detail}"
            else:
                o.detail = p.detail
        if pending:
            time.sleep(POLL)
    return [outcomes[sp.service] for sp in changes]


def _write(view: swarm_session.SwarmView, services: Sequence[str], tmp: Path) -> Path:
    (tmp / "haproxy.cfg").write_text(view.proxy.text)
    path = tmp / "stack.json"  # JSON is YAML: the CLI reads it as a stack file
    path.write_text(json.dumps(view.document_for(services), indent=2))
    return path


def _roll(
    access, client, swarm, view, changes, tmp, health_timeout, result, reporter, held
):
    """`docker stack deploy` of the changed services, then the wait."""
    names = [sp.service for sp in changes]
    before = {
        n: (s.update.started_at if s.update else "")
        for n, s in view.state.services.items()
    }
    path = _write(view, names, tmp)
    if held is not None:  # the fencing check: Swarm rolls on its own after this
        try:
            access.check_lock(client, held)
        except LockLost as exc:
            raise LockLost(f"{exc}; nothing changed by this run") from None
    reporter.step("stack", "stack_deploy", f"{view.stack}: {', '.join(names)}")
    try:
        used = view.document_for(names).get("secrets", {})
        access.create_secrets(
            client, view.stack, {n: view.key_secrets[n] for n in used}
        )
        access.stack_deploy(swarm.manager, path, view.stack)
        most = max(view.desired[n].replicas for n in names)
        deadline = time.monotonic() + health_timeout * (1 + most)
        result.outcomes = _wait(
            access, client, view, changes, before, deadline, reporter
        )
    except KeyboardInterrupt:
        result.error = "interrupted (Swarm goes on with the update)"
    except ReleaseError as exc:
        result.error = str(exc)


def deploy_swarm(
    access: HostAccess,
    env: str,
    swarm: SwarmEnv,
    *,
    services: Sequence[str] = (),
    manifest: Manifest | None = None,
    project: str = "",
    dry_run: bool = False,
    health_timeout: float = 120.0,
    proxy_port: int | None = None,
    reporter: Reporter | None = None,
    gitops: GitopsTree,
) -> DeployResult:
    """Makes the Swarm run the manifest; raises DeployFailed (exit 1) when Swarm
    rolled a service back (or it did not converge), LockError (4) when another
    deploy holds the environment's lock. A dry run only plans (exit 3 on changes)."""
    reporter = reporter or Reporter()
    check_env(env)
    stack = project_name(env, project)
    if manifest is None:
        manifest = load(gitops.manifest(env), env)
    client = access.connect(swarm.manager)
    access.require_manager(client, swarm.manager)
    started_at, t0 = now(), time.monotonic()
    record = {"at": started_at, "env": env, "project": stack, "host": swarm.manager}
    record.update({"by": access.who(), "target": "swarm"})
    # What it was to deploy (the look narrows it to the services asked for).
    record["releases"] = deploy_log.releases(manifest, list(manifest.services))
    record.update(deploy_log.provenance(access, gitops.manifest(env), manifest))

    def log(entry: dict) -> None:  # on the manager, so it outlives this machine
        deploy_log.record(access, client, stack, {**record, **entry}, reporter.note)

    held = None
    if not dry_run:
        held = take_lock(
            access,
            client,
            stack,
            env,
            _lock_text(manifest),
            reporter,
            refused=lambda why: log({"result": "refused", "reason": why}),
        )
    try:
        with tempfile.TemporaryDirectory(prefix="ecotrack-swarm-") as tmp:
            view = swarm_session.look(
                access,
                env,
                swarm,
                stack,
                client,
                Path(tmp),
                manifest=manifest,
                services=services,
                proxy_port=proxy_port,
                gitops=gitops,
            )
            reporter.plan(view.plan)
            record["releases"] = deploy_log.releases(
                manifest, [u.entry for u in view.chosen]
            )
            result = DeployResult(
                env, stack, swarm.manager, view.plan, dry_run, started_at
            )
            changes = view.plan.changes
            if dry_run:
                result.duration = time.monotonic() - t0
                return result
            if changes:
                _roll(
                    access,
                    client,
                    swarm,
                    view,
                    changes,
                    Path(tmp),
                    health_timeout,
                    result,
                    reporter,
                    held,
                )
    finally:
        if held is not None:
            access.release_lock(client, held)
    result.duration = time.monotonic() - t0
    failed = result.failed
    rolled = [o.service for o in failed if o.detail.startswith("swarm rolled back")]
    log(
        {
            "result": "ok" if result.ok else ("rolled_back" if rolled else "failed"),
            "rolled_back": rolled,
            "reason": result.error
            or (f"{failed[0].service}: {failed[0].detail}" if failed else ""),
            "duration_s": round(result.duration, 2),
            "services": [o.to_dict() for o in result.outcomes],
        },
    )
    if not result.ok:
        raise DeployFailed(result.failure(), result)
    return result
