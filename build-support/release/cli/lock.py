"""`./inv lock status|hold|release`: the environment's one deploy lock, wherever its
target keeps it (the host, a fleet's first host, a Swarm's manager)."""

from __future__ import annotations

from release.base import console
from release.base.errors import UsageError
from release.base.layout import GITOPS, check_env, project_name
from release.cli import wiring

ACTIONS = ("status", "hold", "release")


def command(
    action: str,
    env: str,
    project: str = "",
    host: str = "",
    hosts_file: str = "",
    message: str = "",
    as_json: bool = False,
) -> None:
    if action not in ACTIONS:
        raise UsageError(f"unknown lock action '{action}' (status, hold or release)")
    if action == "hold" and not message.strip():
        raise UsageError("lock hold needs -m MESSAGE: say why deploys must wait")
    if action != "hold" and message:
        raise UsageError(f"-m is for lock hold, not lock {action}")
    target = wiring.open_target(GITOPS.root, check_env(env), hosts_file, host)
    project = project_name(env, project)
    lock_host = target.lock_host()
    where = lock_host or "the local engine"
    access = target.access
    client = access.connect(lock_host)
    if action == "hold":
        held = access.hold_lock(client, project, env, message.strip())
        said = f"holding the deploy lock of {project} on {where}: {held.describe()}"
    elif action == "release":
        held = access.force_release_lock(client, project)
        said = (
            f"released the deploy lock of {project} on {where}, {held.describe()}"
            if held
            else f"the deploy lock of {project} on {where} was not held"
        )
    else:
        held = access.lock_holder(client, project)
        said = f"deploy lock of {project} on {where}: " + (
            held.describe() if held else "free (no deploy running)"
        )
    if as_json:
        doc = {
            "action": action,
            "project": project,
            "lock_host": lock_host,
            "held": held.to_dict() if held and action != "release" else None,
            "released": held.to_dict() if held and action == "release" else None,
        }
        console.note(said)
        console.json_result(doc)
    else:
        console.info(said)
