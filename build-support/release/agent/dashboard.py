"""The deployment dashboard: one self-contained HTML page rendered from the agent's
status (pure: a dict in, a string out).

No scripts, fonts, stylesheets or images from anywhere: CSS is inline, the timeline
is inline SVG, and the page refreshes itself (<meta http-equiv=refresh>), so it
works on a host with no internet access and behind any proxy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

REFRESH_SECONDS = 5

COLORS = {
    "IN_SYNC": "#1a7f37",
    "OUT_OF_SYNC": "#bf8700",
    "UNKNOWN": "#6e7781",
    "HEALTHY": "#1a7f37",
    "PROGRESSING": "#0969da",
    "DEGRADED": "#cf222e",
    "MISSING": "#cf222e",
    "ok": "#1a7f37",
    "failed": "#cf222e",
    "interrupted": "#bf8700",
    "in_progress": "#0969da",
    "added": "#0969da",
    "updated": "#1a7f37",
    "changed": "#8250df",
    "removed": "#cf222e",
}

CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;
 color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:20px}
header .meta{color:#d0d7de;font-size:13px;margin-top:4px}
main{padding:16px 24px;max-width:1400px}
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;
 margin:0 0 16px;padding:12px 16px}
h2{font-size:16px;margin:0 0 8px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eaeef2;
 vertical-align:top}
th{font-size:12px;text-transform:uppercase;color:#57606a}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;
 font-size:12px;font-weight:600}
.alert{background:#fff8c5;border-color:#d4a72c}
.muted{color:#6e7781}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{flex:1;min-width:160px;border:1px solid #d0d7de;border-radius:6px;
 padding:8px 12px;background:#fff}
.card .v{font-size:18px;font-weight:600}
"""


def _e(value: object) -> str:
    return escape("" if value is None else str(value))


def badge(text: str) -> str:
    color = COLORS.get(text, "#6e7781")
    return f'<span class="badge" style="background:{color}">{_e(text)}</span>'


def short(digest: str | None) -> str:
    if not digest:
        return "-"
    return "+".join(d.split(":", 1)[-1][:12] for d in str(digest).split("+"))


def _when(iso: str | None) -> str:
    return _e((iso or "-").replace("T", " ").replace("+00:00", "Z"))


def _metrics_cell(m: Mapping | None) -> str:
    if not m:
        return '<span class="muted">n/a</span>'
    text = f"{int(m.get('requests', 0))} req · {m.get('error_rate', 0) * 100:.1f}% 5xx"
    if m.get("p99_ms"):
        text += f" · p99 ≤{m['p99_ms']:.0f} ms"
    return _e(text)


def _last_deploy(s: Mapping, released: Mapping | None) -> str:
    """The agent's own record of its last deploy of the service, else the last
    release of it in the manifest's history."""
    last = s.get("last_deploy") or {}
    if last:
        return (
            f"{_when(last.get('at'))}<br><code>{_e(str(last.get('commit', ''))[:12])}"
            f"</code> {badge(last['result'])} <span class=muted>"
            f"{_e(last.get('trigger', ''))}</span>"
        )
    if released:
        return (
            f"{_when(released.get('when'))}<br><code>"
            f"{_e(str(released.get('commit', ''))[:12])}</code> <span class=muted>"
            f"released by {_e(released.get('who'))}</span>"
        )
    return '<span class="muted">-</span>'


def shown(services: Sequence[Mapping]) -> list[Mapping]:
    """Services the manifest names, and any other that has containers running."""
    return [s for s in services if s.get("sync") != "UNKNOWN" or s.get("replicas")]


def _table(columns: Sequence[str], rows: Sequence[str]) -> str:
    head = "".join(f"<th>{c}</th>" for c in columns)
    return (
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _tr(cells: Sequence[str], service: str | None = None) -> str:
    """A row of cells (HTML already escaped), tagged with its service if given."""
    tag = f'<tr data-service="{_e(service)}">' if service is not None else "<tr>"
    return tag + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _services(services: Sequence[Mapping], events: Sequence[Mapping] = ()) -> str:
    latest: dict[str, Mapping] = {}
    for e in events:  # newest first
        latest.setdefault(e["service"], e)
    rows = []
    for s in services:
        last_cell = _last_deploy(s, latest.get(s["service"]))
        version = _e(s.get("version") or "-")
        if s.get("desired_version") and s.get("desired_version") != s.get("version"):
            version += f' <span class="muted">→ {_e(s["desired_version"])}</span>'
        drift = ", ".join(s.get("kinds") or []) or "-"
        cells = [
            f"<b>{_e(s['service'])}</b>",
            badge(s["sync"]),
            badge(s["health"]),
            version,
            f"<code>{_e(short(s.get('digest')))}</code>",
            f"{_e(s.get('replicas', 0))}/{_e(s.get('desired_replicas', 0))}",
            _e(drift),
            last_cell,
            _metrics_cell(s.get("metrics")),
        ]
        rows.append(_tr(cells, s["service"]))
    columns = ["service", "sync", "health", "version", "digest", "replicas"]
    columns += ["drift", "last deploy", "traffic (since start)"]
    return f'<section id="services"><h2>Services</h2>{_table(columns, rows)}</section>'


def _hosts(hosts: Sequence[Mapping]) -> str:
    """A fleet: one row per host, with what each of its services runs there."""
    if not hosts:
        return ""
    rows = []
    for h in hosts:
        runs = "<br>".join(
            f"{_e(s['service'])} {_e(s.get('version') or '-')} "
            f"<code>{_e(short(s.get('digest')))}</code> "
            f"{_e(s.get('replicas', 0))}/{_e(s.get('desired_replicas', 0))}"
            for s in shown(h.get("services") or [])
        )
        cells = [
            f"<b>{_e(h['name'])}</b>",
            f"<code>{_e(h.get('endpoint'))}</code>",
            badge(h.get("sync", "UNKNOWN")),
            badge(h.get("health", "UNKNOWN")),
            _e(h.get("findings", 0)),
            runs or "-",
        ]
        rows.append(
            f'<tr data-host="{_e(h["name"])}">'
            + "".join(f"<td>{c}</td>" for c in cells)
            + "</tr>"
        )
    columns = ["host", "endpoint", "sync", "health", "drift", "services (live)"]
    return f'<section id="hosts"><h2>Hosts</h2>{_table(columns, rows)}</section>'


def _findings(findings: Sequence[Mapping]) -> str:
    if not findings:
        return ""
    hosts = any(f.get("host") for f in findings)
    rows = [
        _tr(
            ([_e(f.get("host") or "-")] if hosts else [])
            + [
                _e(f["service"]),
                _e(f["kind"]),
                f"<code>{_e(f.get('container') or '-')}</code>",
                _e(f.get("expected")),
                _e(f.get("actual")),
            ]
        )
        for f in findings
    ]
    columns = ["host"] if hosts else []
    columns += ["service", "kind", "container", "expected", "found"]
    return (
        '<section id="drift" class="alert"><h2>Drift</h2>'
        f"{_table(columns, rows)}</section>"
    )


def timeline_svg(services: Sequence[str], events: Sequence[Mapping]) -> str:
    """One row per service, one column per manifest commit (oldest left); a dot where
    the commit changed the service, labelled with the version it brought."""
    commits: list[str] = []
    for e in reversed(list(events)):  # events come newest first
        if e["commit"] not in commits:
            commits.append(e["commit"])
    names = list(services) + sorted({e["service"] for e in events} - set(services))
    if not commits or not names:
        return '<p class="muted">no releases recorded in the manifest\'s history</p>'
    left, step, row_h, top = 130, 90, 34, 24
    width = left + step * len(commits) + 40
    height = top + row_h * len(names) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="per-service release timeline">'
    ]
    for i, commit in enumerate(commits):
        x = left + step * i + step // 2
        parts.append(
            f'<text x="{x}" y="14" font-size="10" text-anchor="middle" '
            f'fill="#57606a">{_e(commit[:7])}</text>'
        )
    for r, name in enumerate(names):
        y = top + row_h * r + row_h // 2
        parts.append(
            f'<text x="8" y="{y + 4}" font-size="12" font-weight="600">'
            f"{_e(name)}</text>"
            f'<line x1="{left}" y1="{y}" x2="{width - 20}" y2="{y}" '
            'stroke="#d0d7de" stroke-width="2"/>'
        )
        for e in events:
            if e["service"] != name:
                continue
            x = left + step * commits.index(e["commit"]) + step // 2
            color = COLORS.get(e["action"], "#57606a")
            label = e.get("to_version") or "removed"
            tip = (
                f"{e['service']} {e.get('from_version') or '-'} → {label} "
                f"({e['action']}) {e.get('when', '')} by {e.get('who', '')}"
            )
            parts.append(
                f'<g class="release" data-service="{_e(name)}" '
                f'data-version="{_e(label)}"><title>{_e(tip)}</title>'
                f'<circle cx="{x}" cy="{y}" r="7" fill="{color}"/>'
                f'<text x="{x}" y="{y - 10}" font-size="10" text-anchor="middle">'
                f"{_e(label)}</text></g>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _history(events: Sequence[Mapping]) -> str:
    if not events:
        return '<p class="muted">no history yet</p>'
    rows = [
        _tr(
            [
                _when(e.get("when")),
                _e(e["service"]),
                badge(e["action"]),
                f"{_e(e.get('from_version') or '-')} → "
                f"{_e(e.get('to_version') or '(removed)')}",
                f"<code>{_e(short(e.get('to_digest')))}</code>",
                _e(e.get("who")),
                f"<code>{_e(e['commit'][:12])}</code>",
                _e(e.get("subject")),
            ],
            e["service"],
        )
        for e in events
    ]
    columns = ["when", "service", "change", "version", "digest", "who", "commit"]
    return _table([*columns, "message"], rows)


def _attempts(attempts: Sequence[Mapping]) -> str:
    if not attempts:
        return '<p class="muted">no deploys by the agent yet</p>'
    rows = [
        _tr(
            [
                _when(a.get("started_at")),
                f"<code>{_e(a['commit'][:12])}</code>",
                _e(a.get("trigger")),
                _e(", ".join(a.get("services") or []) or "all"),
                badge(a["result"]),
                f"{_e(a.get('duration_s', 0))}s",
                _e((a.get("reason") or "").splitlines()[0] if a.get("reason") else ""),
            ]
        )
        for a in reversed(list(attempts))
    ]
    columns = ["started", "commit", "trigger", "services", "result", "duration"]
    return _table([*columns, "reason"], rows)


def render(status: Mapping) -> str:
    agent = status.get("agent") or {}
    services = status.get("services") or []
    failed = status.get("failed_commit")
    alert = (
        '<section id="failed" class="alert"><b>Commit '
        f"<code>{_e(failed[:12])}</code> failed</b> for "
        f"{_e(', '.join(status.get('failed_services') or []))}: the previous version "
        "keeps serving; the agent waits for a new commit or a manual "
        "<code>./inv deploy</code>.</section>"
        if failed
        else ""
    )
    op = status.get("operation")
    if op:
        alert += (
            '<section id="operation"><b>Deploying</b> '
            f"<code>{_e(str(op.get('commit', ''))[:12])}</code> "
            f"({_e(op.get('trigger'))}): "
            f"{_e(', '.join(op.get('services') or []) or 'all services')} — "
            f"{_e(op.get('reason'))}, since {_when(op.get('started_at'))}</section>"
        )
    cards = "".join(
        f'<div class="card"><div class="muted">{_e(k)}</div>'
        f'<div class="v">{v}</div></div>'
        for k, v in (
            ("sync", badge(status.get("sync", "UNKNOWN"))),
            ("health", badge(status.get("health", "UNKNOWN"))),
            ("branch head", f"<code>{_e((status.get('head') or '-')[:12])}</code>"),
            (
                "last synced commit",
                f"<code>{_e((status.get('synced_commit') or '-')[:12])}</code>",
            ),
            ("drift findings", _e(len(status.get("findings") or []))),
        )
    )
    services = shown(services)
    names = [s["service"] for s in services]
    events = status.get("history") or []
    title = f"ecotrack · {status.get('environment', '?')}"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
        f"<title>{_e(title)} deployments</title><style>{CSS}</style></head><body>"
        f"<header><h1>{_e(title)} — deployments</h1><div class=meta>"
        f"project <code>{_e(status.get('project'))}</code> · "
        f"{_e(status.get('repo'))} @ {_e(status.get('branch'))} · "
        f"self-heal {'on' if agent.get('self_heal') else 'off'} · "
        f"every {_e(agent.get('interval'))}s · last check "
        f"{_when(agent.get('last_tick_at'))}</div></header><main>"
        f'<section><div class="cards">{cards}</div></section>{alert}'
        f"{_services(services, events)}{_hosts(status.get('hosts') or [])}"
        f"{_findings(status.get('findings') or [])}"
        '<section id="timeline"><h2>Timeline per service</h2>'
        f"{timeline_svg(names, events)}</section>"
        '<section id="history"><h2>History (git log of the manifest)</h2>'
        f"{_history(events)}</section>"
        '<section id="attempts"><h2>Agent deploys</h2>'
        f"{_attempts(status.get('attempts') or [])}</section>"
        "</main></body></html>"
    )
