"""`./inv audit --env ENV`: the deploy log kept on the target (each host of a fleet,
a Swarm's manager), newest first: who deployed what, when, with which result, from
which commit. targets/audit.py reads and merges it; this module renders it.
"""

from __future__ import annotations

from collections.abc import Sequence

from release.base import console, exit_codes
from release.base.errors import ReleaseError, UsageError
from release.base.layout import GITOPS, check_env, project_name
from release.cli import wiring
from release.targets import audit
from release.verify.drift import short_digest


class AuditIncomplete(ReleaseError):
    """A host's deploy log could not be read: what the others keep was shown."""


def _what(entry: dict) -> str:
    releases = entry.get("releases") or {}
    return ", ".join(
        f"{name} {r.get('version', '?')} {short_digest(r.get('digest', ''))}"
        for name, r in sorted(releases.items())
    )


def _commit(entry: dict) -> str:
    commit = str(entry.get("commit") or "")[:12]
    if not commit:
        return "-"
    # `*`: the manifest deployed is not the one that commit holds (see the legend)
    return commit + ("" if entry.get("manifest_committed") else "*")


def _host(entry: dict) -> str:
    where = str(entry.get("log_host", ""))
    return where + (" (this machine)" if entry.get("kept") == audit.LOCAL else "")


def render(log: audit.AuditLog, as_json: bool) -> None:
    if as_json:
        console.json_result(log.to_dict())
        return
    hosts = ", ".join(h.place.name for h in log.hosts)
    if not log.entries:
        console.info(f"no deploys of {log.project} recorded on {hosts}")
        return
    console.table(
        f"deploys of {log.project} ({log.environment}), newest first: "
        f"{len(log.entries)} of {log.matching}",
        ["when", "host", "result", "by", "what", "commit", "reason"],
        [
            [
                e.get("at", ""),
                _host(e),
                e.get("result", ""),
                e.get("by", ""),
                _what(e) or "-",
                _commit(e),
                str(e.get("reason") or "").split("\n", 1)[0][:100],
            ]
            for e in log.entries
        ],
    )
    if any(e.get("commit") and not e.get("manifest_committed") for e in log.entries):
        console.detail(
            "*: the manifest deployed is not the one that commit holds "
            "(uncommitted, git-ignored like local.json, or another --manifest file)"
        )
    if any(e.get("kept") == audit.LOCAL for e in log.entries):
        console.detail(
            "(this machine): the host could not be written to at the time; "
            "the entry is only in this machine's copy"
        )


def run(
    env: str,
    hosts_file: str = "",
    host: str = "",
    project: str = "",
    services: Sequence[str] = (),
    limit: int = 20,
    as_json: bool = False,
) -> int:
    check_env(env)
    if limit < 1:
        raise UsageError(f"--limit must be 1 or more (got {limit})")
    target = wiring.open_target(GITOPS.root, env, hosts_file, host)
    with console.humans_on_stderr(as_json):
        log = audit.read(target, project_name(env, project), tuple(services), limit)
        render(log, as_json)
    if log.unreadable:
        first, more = log.unreadable[0], len(log.unreadable) - 1
        raise AuditIncomplete(
            f"{first.place.name}: {first.error}"
            + (f" (and {more} more host(s))" if more else "")
        )
    return exit_codes.OK
