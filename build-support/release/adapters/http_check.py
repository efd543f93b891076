"""A service's readiness and version over HTTP, asked from this machine (through the
proxy's internal listener, where readiness reasons and versions are served): what
`./inv up` waits on before it prints the URLs; and the proxy's HTTPS entry point,
checked against the CA that signed its certificate."""

from __future__ import annotations

from dataclasses import dataclass

import ssl

import httpx


@dataclass(frozen=True)
class Answer:
    ready: bool
    version: dict | None = None  # GET /<service>/version, once ready
    detail: str = ""  # why not ready: `HTTP 503`, `ConnectError`


class Checker:
    """One HTTP client for a series of checks; close it (or use `with`)."""

    def __init__(self, timeout: float = 3.0) -> None:
        self._client = httpx.Client(timeout=timeout)

    def __enter__(self) -> "Checker":
        return self

    def __exit__(self, *exc) -> None:
        self._client.close()

    def ready(self, base_url: str, name: str) -> Answer:
        try:
            r = self._client.get(f"{base_url}/{name}/health/ready")
            if r.status_code != 200:
                return Answer(False, detail=f"HTTP {r.status_code}")
            return Answer(True, self._client.get(f"{base_url}/{name}/version").json())
        except httpx.HTTPError as exc:
            return Answer(False, detail=type(exc).__name__)


def https_problem(url: str, ca: str, timeout: float = 5.0) -> str:
    """Why `url` does not answer 200 over TLS verified by the CA file `ca` ("" if
    it does)."""
    try:
        r = httpx.get(
            url, verify=ssl.create_default_context(cafile=ca), timeout=timeout
        )
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return "" if r.status_code == 200 else f"HTTP {r.status_code}"
