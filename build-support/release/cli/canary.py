"""`./inv deploy --service NAME --canary N`: the task layer's call into
canary/rollout.py, and the table (or JSON) of its result."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from release.base import console
from release.base.errors import UsageError
from release.base.layout import check_env, project_name
from release.canary import rollout as canary
from release.cli import wiring
from release.model.manifest import load
from release.targets import notify


def render(result: canary.CanaryResult, as_json: bool = False) -> None:
    if as_json:
        console.data(json.dumps(result.to_dict(), indent=2))
        return
    console.table(
        f"canary of {result.service} in {result.env} ({result.project}): "
        + result.decision.upper(),
        ["service", "from → to", "canary", "observed", "requests", "errors", "why"],
        [
            [
                result.service,
                f"{result.from_} → {result.to}",
                ", ".join(result.canaries) or "-",
                f"{result.observed_s:.0f}s",
                f"{result.requests} (own /metrics: {result.own_requests})",
                f"{result.errors} (own /metrics: {result.own_errors})",
                result.reason,
            ]
        ],
    )


def command(
    env: str,
    services: Sequence[str],
    replicas: int,
    window: float,
    max_error_rate: float,
    *,
    host: str = "",
    as_json: bool = False,
    health_timeout: float = 120.0,
    project: str = "",
    manifest: str = "",
    port: int = 0,
) -> int:
    """The task layer's call: one service, a canary, a decision; exit 3 when its
    verdict aborts it."""
    check_env(env)
    if len(services) != 1:
        raise UsageError("--canary needs exactly one --service")
    project = project_name(env, project)
    notifier = notify.Notifier.from_env()
    reporter = notify.NotifyingReporter(notifier, env, project, as_json=as_json)
    result = canary.run(
        wiring.host_access(),
        canary.CanaryOptions(
            env=env,
            service=services[0],
            replicas=replicas,
            window=window,
            max_error_rate=max_error_rate,
            project=project,
            host=host or None,
            health_timeout=health_timeout,
            manifest=load(Path(manifest), env) if manifest else None,
            proxy_port=port or None,
        ),
        reporter,
        notifier,
    )
    render(result, as_json)
    return result.exit_code
