"""One look at a Swarm environment, shared by its deploy and its drift: the
manifest and the Compose files → desired state and the stack document; the
manager's services and tasks → live state; the two → the plan (plan/plan.py, the same
pure planner as the Compose path, over tasks instead of containers).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from release.base.errors import UsageError
from release.base.layout import GitopsTree, check_env
from release.engine.access import HostAccess
from release.engine.results import DeployError
from release.gitops.secrets import ensure_keys
from release.model.desired import (
    Desired,
    Unit,
    desired_units,
    merged_services,
    with_hashes,
)
from release.model.manifest import Manifest, load
from release.plan.plan import Plan, make_plan, select
from release.targets.resolve import (
    _secrets_path,
    compose_docs,
    read_units,
    secrets_fingerprint,
)
from release.targets.swarm import live as swarm_live
from release.targets.swarm import stack as swarm_stack
from release.targets.swarm.env import SwarmEnv
from release.targets.swarm.live import SwarmState


@dataclass
class SwarmView:
    env: str
    stack: str  # the stack's name: the environment's project name
    manifest: Manifest
    units: tuple[Unit, ...]
    chosen: tuple[Unit, ...]
    desired: dict[str, Desired]
    document: dict  # the stack file, every unit the manifest names
    proxy: swarm_stack.ProxyConfig
    state: SwarmState
    plan: Plan
    secrets_file: Path = field(default_factory=Path)
    # {Docker secret name: content}: the token keys the stack file mounts.
    key_secrets: dict[str, bytes] = field(default_factory=dict)

    def document_for(self, services: Sequence[str]) -> dict:
        """The stack file limited to `services`: `docker stack deploy` without
        --prune leaves the stack's other services as they run."""
        doc = dict(self.document)
        doc["services"] = {
            k: v for k, v in self.document["services"].items() if k in services
        }
        if not any("configs" in s for s in doc["services"].values()):
            doc.pop("configs", None)
        return doc


def _proxy(gitops: GitopsTree, stack: str) -> swarm_stack.ProxyConfig:
    path = gitops.root / "proxy" / "haproxy.cfg"
    try:
        return swarm_stack.proxy_config(path.read_text(), stack)
    except OSError as exc:
        raise DeployError(f"{path}: cannot read: {exc.strerror}") from None


def _proxy_tls(docs, stack: str) -> swarm_stack.ProxyTls | None:
    """The proxy's PEM as a Docker secret: PROXY_TLS_FILE on this machine, required
    where the environment's proxy serves HTTPS only (staging, prod)."""
    problem = swarm_stack.bind_problem(os.environ.get("PROXY_BIND", ""))
    if problem:
        raise UsageError(problem)
    spec = merged_services(docs).get("proxy", {})
    https_only = "PROXY_HTTPS_ONLY" in (spec.get("environment") or {})
    path = os.environ.get("PROXY_TLS_FILE", "")
    if not path:
        if https_only:
            raise DeployError(
                "the proxy serves HTTPS only here: set PROXY_TLS_FILE to its PEM "
                "(certificate and key) on this machine"
            )
        return None
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise DeployError(f"PROXY_TLS_FILE {path}: cannot read: {exc.strerror}")
    return swarm_stack.proxy_tls(pem, str(Path(path).resolve()), stack)


def look(
    access: HostAccess,
    env: str,
    swarm: SwarmEnv,
    stack: str,
    client,
    workdir: Path,
    *,
    manifest: Manifest | None = None,
    services: Sequence[str] = (),
    proxy_port: int | None = None,
    gitops: GitopsTree,
) -> SwarmView:
    check_env(env)
    if manifest is None:
        manifest = load(gitops.manifest(env), env)
    if manifest.environment != env:
        raise UsageError(
            f"the manifest is for '{manifest.environment}', not for '{env}'"
        )
    units = read_units(env, gitops)
    known = {u.service for u in units} | {u.entry for u in units}
    unknown = sorted(set(services) - known)
    if unknown:
        raise UsageError(
            f"unknown service {', '.join(unknown)} (known: "
            f"{', '.join(sorted({u.service for u in units}))})"
        )
    chosen = select(units, services)
    needed = any(u.env_file and u.entry in manifest.services for u in units)
    secrets = _secrets_path(env, stack, needed, workdir)
    keys = ensure_keys(stack)
    desired = desired_units(manifest, units, secrets_fingerprint(secrets, keys))
    names = {f: swarm_stack.key_secret_name(stack, f, data) for f, data in keys.items()}
    proxy = _proxy(gitops, stack)
    docs = compose_docs(env, gitops)
    document, hashes = swarm_stack.render(
        units,
        desired,
        docs,
        secrets_file=str(secrets),
        proxy_port=proxy_port or swarm.proxy_port,
        monitor=swarm.monitor,
        proxy=proxy,
        proxy_config_file=str(workdir / "haproxy.cfg"),
        key_secrets=names,
        proxy_tls=_proxy_tls(docs, stack),
    )
    desired = with_hashes(desired, hashes)
    state = swarm_live.parse(stack, *access.read_stack(client, stack))
    plan = make_plan(env, stack, chosen, desired, state.live)
    return SwarmView(
        env,
        stack,
        manifest,
        units,
        chosen,
        desired,
        document,
        proxy,
        state,
        plan,
        secrets,
        {names[f]: data for f, data in keys.items()},
    )
