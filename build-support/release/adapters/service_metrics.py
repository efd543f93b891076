"""A service container's own /metrics page, read straight from its address on the
project's network (reachable from the engine's machine only)."""

from __future__ import annotations

import httpx

from release.model.service_metrics import PORT, ServiceMetrics, parse


def scrape(ip: str, timeout: float = 2.0, port: int = PORT) -> ServiceMetrics | None:
    """One container's metrics, None when it cannot be read (not reachable from here,
    e.g. a remote host, or not answering)."""
    if not ip:
        return None
    try:
        r = httpx.get(f"http://{ip}:{port}/metrics", timeout=timeout)
        r.raise_for_status()
        return parse(r.text)
    except (httpx.HTTPError, ValueError):
        return None
