"""Pure: one drift report for a fleet, from each host's report.

The agent decides on one report per pass (what to deploy, whether to heal, what
drift to announce), so a fleet's hosts are folded into one: every finding keeps the
host it was found on, and a service is OUT_OF_SYNC when it is on any host, as
healthy as its worst host, with its replicas summed over the hosts. The per-host
reports stay beside it for the status and the dashboard.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from release.plan.plan import HEALTH_ORDER, IN_SYNC, OUT_OF_SYNC
from release.verify.drift import UNKNOWN, DriftReport, Finding, ServiceStatus


def _worst(healths: Sequence[str]) -> str:
    rank = {h: i for i, h in enumerate(HEALTH_ORDER)}
    return min(healths, key=lambda h: rank.get(h, 0)) if healths else UNKNOWN


def _joined(values) -> str:
    return ",".join(sorted({v for v in values if v}))


def _service(rows: Sequence[ServiceStatus]) -> ServiceStatus:
    syncs = {r.sync for r in rows}
    sync = (
        OUT_OF_SYNC
        if OUT_OF_SYNC in syncs
        else IN_SYNC if syncs == {IN_SYNC} else UNKNOWN
    )
    first = rows[0]
    return ServiceStatus(
        service=first.service,
        sync=sync,
        health=_worst([r.health for r in rows]),
        version=_joined(r.version for r in rows),
        desired_version=first.desired_version,
        digest=_joined(r.digest for r in rows),
        desired_digest=first.desired_digest,
        replicas=sum(r.replicas for r in rows),
        desired_replicas=sum(r.desired_replicas for r in rows),
        kinds=tuple(dict.fromkeys(k for r in rows for k in r.kinds)),
    )


def merge(
    environment: str, project: str, per_host: Sequence[tuple[str, DriftReport]]
) -> DriftReport:
    """The fleet's report: findings tagged with their host, services folded over
    the hosts in the order the first host lists them."""
    findings: list[Finding] = [
        replace(f, host=host) for host, report in per_host for f in report.findings
    ]
    rows: dict[str, list[ServiceStatus]] = {}
    for _, report in per_host:
        for s in report.services:
            rows.setdefault(s.service, []).append(s)
    return DriftReport(
        environment,
        project,
        tuple(findings),
        tuple(_service(r) for r in rows.values()),
    )
