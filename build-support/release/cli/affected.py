"""`./inv affected`: what a change affects (change/report.py), rendered as names, the
GitHub Actions matrix (JSON) or an explanation (cli/affected_render.py)."""

from __future__ import annotations

import json

from release.base import console
from release.change.report import Report
from release.cli import affected_render


def render(rep: Report, as_json: bool = False, explain: bool = False) -> None:
    result = rep.result
    if as_json:
        console.data(json.dumps(affected_render.to_matrix(result, explain=explain)))
        return
    if not explain:
        if result.include:
            console.data("\n".join(result.include))
        return
    header = (
        f"since {rep.since} (merge-base {rep.merge_base[:12]}): "
        f"{len({c.path for c in rep.changes})} changed paths"
    )
    console.data("\n".join([header, *affected_render.explain_lines(result)]))
    for n in rep.graph_notes:
        console.note(n)
