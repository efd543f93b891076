"""`./inv cache up|down|status|rotate`: the shared Pants remote cache on BuildGrid."""

from __future__ import annotations

import time
from pathlib import Path

from release.base import exit_codes
from release.adapters import buildgrid
from release.base import console
from release.base.errors import UsageError
from release.machine import cache

ACTIONS = ("up", "down", "status", "rotate")


def _settings(
    host: str,
    port: int,
    data_dir: str,
    max_refs: int,
    tls_cert: str = "",
    tls_key: str = "",
    token_days: float = cache.DEFAULT_TOKEN_DAYS,
):
    try:
        settings = cache.ServerSettings(
            host=host,
            port=cache.check_port(int(port)),
            data_dir=str(
                buildgrid.require_data_dir(
                    Path(data_dir).expanduser().resolve()
                    if data_dir
                    else buildgrid.default_data_dir()
                )
            ),
            max_cached_refs=int(max_refs),
            tls_cert=str(Path(tls_cert).expanduser().resolve()) if tls_cert else "",
            tls_key=str(Path(tls_key).expanduser().resolve()) if tls_key else "",
            token_days=float(token_days),
        )
        return cache.check_settings(settings)
    except (ValueError, cache.CacheConfigError) as exc:
        raise UsageError(str(exc)) from None


def command(
    action: str,
    bind: str,
    port: int,
    data_dir: str,
    max_refs: int,
    as_json: bool = False,
    tls_cert: str = "",
    tls_key: str = "",
    token_days: float = cache.DEFAULT_TOKEN_DAYS,
) -> int:
    if action not in ACTIONS:
        raise UsageError(
            f"unknown cache action '{action}' (known: {', '.join(ACTIONS)})"
        )
    settings = _settings(bind, port, data_dir, max_refs, tls_cert, tls_key, token_days)
    data = Path(settings.data_dir)
    if action == "rotate":
        state = buildgrid.running(data)
        with console.step("new secret and tokens; the old tokens are refused"):
            state = buildgrid.rotate(
                settings, buildgrid.ensure_bgd() if state else None
            )
        _render_status(data, state, settings)
        return 0
    if action == "up":
        bgd = buildgrid.ensure_bgd()
        state = buildgrid.running(data)
        if state:
            console.info(f"cache already running at {state.address} (pid {state.pid})")
        else:
            with console.step(f"starting BuildGrid {buildgrid.BUILDGRID_VERSION}"):
                state = buildgrid.start(settings, bgd)
        _render_status(data, state, settings)
        return 0
    if action == "down":
        state = buildgrid.stop(data)
        if state is None:
            console.info(f"no cache server runs from {data}")
        else:
            console.info(
                f"stopped the cache at {state.address} (pid {state.pid}); "
                f"data kept in {data}"
            )
        return 0
    state = buildgrid.running(data)
    if as_json:
        console.json_result(status_doc(data, state, settings))
    else:
        _render_status(data, state, settings)
    return exit_codes.OK if state else exit_codes.NOT_RUNNING


def status_doc(data: Path, state, settings) -> dict:
    """`./inv cache status --json`."""
    u = buildgrid.usage(data)
    return {
        "running": bool(state),
        "pid": state.pid if state else None,
        "address": state.address if state else settings.address,
        "data_dir": str(data),
        "cas_bytes": u.cas_bytes,
        "cas_blobs": u.cas_blobs,
        "hits": u.hits,
        "misses": u.misses,
        "writes": u.writes,
        "hit_rate": u.hit_rate,
        "refused_calls": u.denied,
    }


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _token_row(settings, role: str, who: str) -> str:
    path = settings.token_path(role)
    try:
        exp = float(cache.token_claims(Path(path).read_text())["exp"])
        until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(exp))
    except (OSError, KeyError, ValueError, cache.CacheConfigError):
        until = "none yet"
    return f"{path} ({who}; expires {until})"


def _render_status(data: Path, state, settings) -> None:
    u = buildgrid.usage(data)
    rate = u.hit_rate
    rows = [
        [
            "state",
            (
                f"running (pid {state.pid}, up {time.time() - state.started:.0f}s)"
                if state
                else "stopped"
            ),
        ],
        ["address", state.address if state else settings.address],
        ["data", str(data)],
        ["CAS size", f"{_human(u.cas_bytes)} in {u.cas_blobs} blobs"],
        ["action cache", f"{u.hits} hits, {u.misses} misses, {u.writes} writes"],
        ["hit rate", f"{rate:.0%}" if rate is not None else "no lookups yet"],
        ["refused calls", str(u.denied)],
        ["writer token", _token_row(settings, "writer", "trusted builds: main")],
        ["reader token", _token_row(settings, "reader", "pull requests")],
    ]
    console.table("remote cache (BuildGrid, REAPI)", ["", ""], rows)
    if state:
        console.detail(
            f"use it: export {cache.ADDRESS_VAR}={state.address} "
            f"{cache.TOKEN_FILE_VAR}={settings.token_path('writer')} "
            + (
                f"{cache.CA_FILE_VAR}=<the CA of {state.tls_cert}> "
                if state.tls
                else ""
            )
            + f"{cache.WRITE_VAR}=true; ./pants ..."
        )
