"""`./inv status --env ENV`: per host and service what runs, how many replicas are
ready, whether it drifted, the deploy lock and the last deploy. targets/status.py
gathers it from the target's one look (the drift's); this module renders it.
"""

from __future__ import annotations

from pathlib import Path

from release.base import console, exit_codes
from release.base.errors import ReleaseError
from release.base.layout import GITOPS, check_env
from release.cli import wiring
from release.model.manifest import load
from release.targets import status as target_status
from release.verify.drift import UNKNOWN, short_digest


class NothingRunning(ReleaseError):
    """No container of the project on any engine of the target: nothing to report."""

    exit_code = exit_codes.NOT_RUNNING


def _ready(s: target_status.ServiceRow) -> str:
    return f"{s.ready}/{s.desired if s.sync != UNKNOWN else '-'}"


def _drift(s: target_status.ServiceRow) -> str:
    if s.sync == UNKNOWN:
        return "not in the manifest"
    if not s.findings:
        return "in sync"
    return f"drifted ({s.findings}: {', '.join(s.kinds)})"


def _digest(s: target_status.ServiceRow) -> str:
    digests = [d for d in s.digest.split("+") if d]
    return "+".join(short_digest(d) for d in digests) or "-"


def _host_drift(h: target_status.HostStatus) -> str:
    if not h.deployed:
        return "nothing runs"
    return "in sync" if h.in_sync else f"drifted ({h.findings} finding(s))"


def _lock(h: target_status.HostStatus) -> str:
    return h.lock["description"] if h.lock else "free"


def _last(h: target_status.HostStatus) -> str:
    d = h.last_deploy
    if d is None:
        return "unreadable" if h.log_error else "none recorded"
    commit = f" ({d['commit'][:12]})" if d.get("commit") else ""
    return f"{d['result']} at {d['at']} by {d['by']}{commit}"


def _summary(report: target_status.StatusReport) -> str:
    drift = "in sync" if report.in_sync else "drifted"
    return drift + ("" if report.ready else ", not ready")


def render(report: target_status.StatusReport, as_json: bool) -> None:
    if as_json:
        console.json_result(report.to_dict())
        return
    if report.deployed:  # else each row would only repeat "nothing runs"
        _services_table(report)
    console.table(
        "hosts",
        ["host", "drift", "deploy lock", "last deploy"],
        [
            [
                h.place.name,
                _host_drift(h),
                _lock(h),
                _last(h),
            ]
            for h in report.hosts
        ],
    )
    for h in report.hosts:
        if h.log_error:
            console.detail(f"{h.place.name}: {h.log_error}")


def _services_table(report: target_status.StatusReport) -> None:
    console.table(
        f"{report.environment} ({report.project}): {_summary(report)}",
        ["host", "service", "version", "digest", "ready", "drift"],
        [
            [
                h.place.name,
                s.service,
                s.version or "-",
                _digest(s),
                _ready(s),
                _drift(s),
            ]
            for h in report.hosts
            for s in h.services
        ],
    )


def run(
    env: str,
    hosts_file: str = "",
    host: str = "",
    project: str = "",
    manifest: str = "",
    as_json: bool = False,
) -> int:
    check_env(env)
    loaded = load(Path(manifest), env) if manifest else None
    target = wiring.open_target(GITOPS.root, env, hosts_file, host)
    with console.humans_on_stderr(as_json):
        report = target_status.status(target, project=project, manifest=loaded)
        render(report, as_json)
    if not report.deployed:
        where = ", ".join(h.place.name for h in report.hosts)
        raise NothingRunning(
            f"no container of {report.project} on {where}: nothing to report on "
            f"(./inv deploy --env {env} starts it)"
        )
    return report.exit_code
