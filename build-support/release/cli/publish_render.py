"""`./inv publish`'s answer: a table of what was pushed, or the result as JSON."""

from __future__ import annotations

from release.base import console
from release.model.registry import short
from release.publish.pipeline import PublishResult


def render(result: PublishResult, as_json: bool = False) -> None:
    if as_json:
        console.json_result(result.to_dict())
        return
    if not result.published:
        console.info(f"nothing to publish ({result.selection})")
        return
    rows = [
        [
            p.service,
            f"{p.previous_version or '-'} → {p.version}",
            p.tag,
            short(p.digest),
            "pushed" if p.pushed else "already there",
            f"{p.push_seconds:.1f}s",
        ]
        for p in result.published
    ]
    console.table(
        f"published to {result.env} ({result.registry} registry, {result.selection})",
        ["service", "version", "tag", "digest", "push", "time"],
        rows,
    )
    if result.unchanged:
        console.detail(f"unchanged, not built: {', '.join(result.unchanged)}")
    if result.records:
        console.info(f"release records written: {', '.join(result.records)}")
        console.detail(f"record them with ./inv record --env {result.env} <dir>")
    else:
        _manifest_line(result)
    console.detail(
        "  ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items() if k != "select")
    )


def _manifest_line(result: PublishResult) -> None:
    where = result.manifest
    if all(p.previous_digest == p.digest for p in result.published):
        console.info(f"{where} already records these images: nothing to commit")
    elif result.commit:
        console.info(f"recorded in {where}: commit {result.commit[:12]}")
    else:
        console.info(f"recorded in {where} (local: written, not committed)")
