"""`./inv drift --env ENV [--json]`: the manifest (desired) against the host (live).

The look is the environment's Target's (one host, each host of a fleet, or a Swarm:
targets/*/observe.py), the rules verify/drift.py's; this module renders the report.
Exit 0 in sync, 1 drifted.
"""

from __future__ import annotations

import json
from pathlib import Path

from release.base import console
from release.base.layout import GITOPS
from release.cli import wiring
from release.model.manifest import load
from release.targets.target import Look
from release.verify import drift


def render_fleet(env: str, looked, as_json: bool) -> int:
    """Drift per host of the environment's fleet: exit 3 if any host drifted."""
    reports = [(h, obs.report) for h, obs in looked.hosts]
    if not as_json:
        for h, report in reports:
            console.info(f"host {h.name} ({h.endpoint})")
            render(report)
    if as_json:
        console.data(
            json.dumps(
                {
                    "environment": env,
                    "in_sync": all(r.in_sync for _, r in reports),
                    "hosts": [
                        {"name": h.name, "endpoint": h.endpoint, **r.to_dict()}
                        for h, r in reports
                    ],
                },
                indent=2,
                sort_keys=True,
            )
        )
    else:
        console.table(
            f"fleet {env}: drift per host",
            ["host", "endpoint", "state"],
            [
                [
                    h.name,
                    h.endpoint,
                    "in sync" if r.in_sync else f"{len(r.findings)} finding(s)",
                ]
                for h, r in reports
            ],
        )
    return max((r.exit_code for _, r in reports), default=0)


def render(report: drift.DriftReport, as_json: bool = False) -> None:
    if as_json:
        console.data(json.dumps(report.to_dict(), indent=2, sort_keys=True))
        return
    console.table(
        f"{report.environment} ({report.project}): "
        + ("in sync" if report.in_sync else f"{len(report.findings)} drift finding(s)"),
        ["service", "sync", "health", "live", "desired", "drift"],
        [
            [
                s.service,
                s.sync,
                s.health,
                f"{s.version or '-'} {drift.short_digest(s.digest) if s.digest else ''}"
                f" ×{s.replicas}",
                (
                    f"{s.desired_version} {drift.short_digest(s.desired_digest)}"
                    f" ×{s.desired_replicas}"
                    if s.desired_version
                    else "(not in the manifest)"
                ),
                ", ".join(s.kinds) or "-",
            ]
            for s in report.services
        ],
    )
    if report.findings:
        console.table(
            "findings",
            ["service", "kind", "container", "expected", "found"],
            [
                [f.service, f.kind, f.container or "-", f.expected, f.actual]
                for f in report.findings
            ],
        )


def render_one(env: str, looked, as_json: bool) -> int:
    render(looked.report, as_json)
    return looked.report.exit_code


# A fleet's look is shown host by host; the others' as one report.
RENDER = {"fleet": render_fleet}


def run(
    env: str,
    as_json: bool,
    project: str = "",
    host: str = "",
    manifest: str = "",
    hosts: str = "",
) -> int:
    loaded = load(Path(manifest), env) if manifest else None
    target = wiring.open_target(GITOPS.root, env, hosts, host)
    looked = target.observe(Look(project=project, manifest=loaded))
    return RENDER.get(target.kind, render_one)(env, looked, as_json)
