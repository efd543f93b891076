"""One look at a Swarm for drift: the stack's services and tasks on the manager
against the desired state, as one Observation (targets/host/observe.py)."""

from __future__ import annotations

from pathlib import Path

from release.base.layout import GitopsTree, project_name
from release.engine.access import HostAccess
from release.model.manifest import Manifest
from release.targets.host.observe import Observation
from release.targets.swarm.env import SwarmEnv
from release.verify import drift


def observe_swarm(
    access: HostAccess,
    env: str,
    swarm: SwarmEnv,
    *,
    project: str = "",
    manifest: Manifest | None = None,
    gitops: GitopsTree,
    client=None,
) -> Observation:
    """One look at a Swarm environment: the stack's tasks as the live state, and a
    paused or rolled-back update as drift of its own (swarm_live.UPDATE)."""
    import tempfile

    from release.targets.swarm import live as swarm_live
    from release.targets.swarm import session as swarm_session

    stack = project_name(env, project)
    client = client or access.connect(swarm.manager)
    access.require_manager(client, swarm.manager)
    with tempfile.TemporaryDirectory(prefix="ecotrack-swarm-") as tmp:
        view = swarm_session.look(
            access,
            env,
            swarm,
            stack,
            client,
            Path(tmp),
            manifest=manifest,
            gitops=gitops,
        )
    live = view.state.live
    report = drift.detect(env, stack, view.desired, live, (), view.units)
    extra = swarm_live.update_findings(view.state.services, view.desired, live)
    report = swarm_live.with_update_findings(report, extra)
    return Observation(
        report, view.manifest, view.desired, view.units, live, (), on_swarm=True
    )
