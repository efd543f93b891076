"""Run a service app under uvicorn with JSON logs and graceful shutdown."""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI

from common.logging_json import configure_logging, uvicorn_log_config
from common.settings import KeyLoader, Settings, SettingsError

# In-flight requests get this long after SIGTERM. The orchestrator's kill
# timeout (docker stop -t / stop_grace_period) should be a bit longer.
GRACEFUL_SHUTDOWN_SECONDS = 10


def serve(app: FastAPI, settings: Settings) -> None:
    """Blocks until SIGTERM/SIGINT; uvicorn then drains in-flight requests."""
    uvicorn.run(
        app,
        host="0.0.0.0",  # inside a container: reachable only via published ports
        port=settings.port,
        log_config=uvicorn_log_config(settings.service_name, settings.log_level),
        # The app's middleware already logs every request with its duration.
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


def load_settings_or_exit(service_name: str, keys: KeyLoader | None = None) -> Settings:
    """Settings from the environment, with JSON logging configured.

    A configuration error exits with status 2 and a one-line message on stderr
    so that a misconfigured container fails loudly at start, not at first use: a
    missing or weak token key (not Ed25519, or an HS256 secret) is such an error
    for a service that passes `keys` (common.jwt_tokens.key_loader).
    """
    try:
        settings = Settings.from_env(service_name, keys=keys)
    except SettingsError as exc:
        print(f"{service_name}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings.service_name, settings.log_level)
    return settings
