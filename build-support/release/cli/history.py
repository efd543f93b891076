"""`./inv history [--env ENV] [--service NAME ...] [--json]`: the deployment history of
the committed environments, from `git log` of their manifests (parsed by
gitops/history.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from release.adapters import manifest_git
from release.base import console
from release.base.errors import UsageError
from release.base.layout import ENVIRONMENTS, ROOT, check_env, select_services
from release.gitops import history
from release.gitops import store as manifest_store
from release.model.registry import short


@dataclass(frozen=True)
class HistoryReport:
    envs: tuple[str, ...]
    services: tuple[str, ...]  # empty: all
    events: tuple[history.Event, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "environments": list(self.envs),
            "services": list(self.services),
            "events": [e.to_dict() for e in self.events],
            "notes": list(self.notes),
        }


def report(
    env: str = "", services: Sequence[str] = (), root: Path = ROOT
) -> HistoryReport:
    """Events of `env` (default: every committed one) for any of `services`
    (default: all)."""
    if env:
        check_env(env)
        if not manifest_store.is_committed(env):
            raise UsageError(
                f"the {env} manifest is not kept in git (ignored on purpose), so it "
                "has no history; try staging or prod"
            )
    services = tuple(sorted(set(services)))
    if services:
        select_services(list(services), root)
    envs = (
        (env,)
        if env
        else tuple(e for e in ENVIRONMENTS if manifest_store.is_committed(e))
    )
    streams, notes, rels = [], [], []
    for e in envs:
        rel = manifest_git.relative(root, manifest_store.manifest_path(e, root))
        found, skipped = history.events(e, manifest_git.file_history(root, rel))
        streams.append(found)
        notes += skipped
        rels.append(rel)
    order = manifest_git.commits_touching(root, rels) if len(envs) > 1 else ()
    merged = history.merge(*streams, order=order)
    events = [e for e in merged if not services or e.service in services]
    return HistoryReport(envs, services, tuple(events), tuple(notes))


def _version_change(e: history.Event) -> str:
    if e.action == "removed":
        return f"{e.from_version} → (removed)"
    return f"{e.from_version or '-'} → {e.to_version}"


def _digest_change(e: history.Event) -> str:
    old = short(e.from_digest) if e.from_digest else "-"
    new = short(e.to_digest) if e.to_digest else "-"
    return new if old == new else f"{old} → {new}"


def render(rep: HistoryReport, as_json: bool = False) -> None:
    if as_json:
        console.json_result(rep.to_dict())
        return
    scope = ", ".join(rep.envs + rep.services)
    if not rep.events:
        console.info(f"no deployments recorded ({scope})")
    else:
        console.table(
            f"deployment history ({scope}), newest first",
            ["when", "env", "service", "change", "version", "digest", "who", "commit"],
            [
                [
                    e.when,
                    e.env,
                    e.service,
                    e.action
                    + (f" ({', '.join(e.changed)})" if e.action == "changed" else ""),
                    _version_change(e),
                    _digest_change(e),
                    e.who,
                    e.commit[:12],
                ]
                for e in rep.events
            ],
        )
    for n in rep.notes:
        console.detail(n)
