"""Container entry point (``waste_service.cli:main``).

One image, three roles chosen by the first argument, so the API and the worker
always run the same code version:

    (none) | api     serve the HTTP API
    worker           run the job worker until SIGTERM
    worker-health    exit 0 if the worker heartbeat is fresh (Docker HEALTHCHECK)
"""

import os
import sys
from collections.abc import Sequence

from common.runner import load_settings_or_exit, serve
from common.settings import SettingsError, env_float, env_str
from waste_service.main import create_app
from waste_service.worker import (
    StopFlag,
    heartbeat_is_fresh,
    install_signal_handlers,
    run_worker,
)

USAGE = "usage: waste [api | worker | worker-health]"
DEFAULT_HEARTBEAT_PATH = "/tmp/worker-heartbeat"


def run(argv: Sequence[str]) -> int:
    command = argv[0] if argv else "api"
    heartbeat = env_str(os.environ, "WORKER_HEARTBEAT_PATH", DEFAULT_HEARTBEAT_PATH)
    if command == "worker-health":
        # No settings/logging: must be cheap and quiet for frequent probes.
        return 0 if heartbeat_is_fresh(heartbeat) else 1
    if command == "api":
        settings = load_settings_or_exit("waste")
        serve(create_app(settings), settings)
        return 0
    if command == "worker":
        settings = load_settings_or_exit("waste")
        try:
            poll = env_float(os.environ, "WORKER_POLL_SECONDS", 1.0, minimum=0.05)
        except SettingsError as exc:
            print(f"waste: configuration error: {exc}", file=sys.stderr)
            return 2
        stop = StopFlag()
        install_signal_handlers(stop)
        return run_worker(settings.database_path, poll, heartbeat, stop)
    print(USAGE, file=sys.stderr)
    return 2


def main() -> None:
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
