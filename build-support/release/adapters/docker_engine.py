"""Makes sure a Docker engine answers, starting or installing one where we safely can.

An engine that already answers (local or DOCKER_HOST) is used as is; otherwise the
bootstrap (release/machine/bootstrap.py, carried out by adapters/machine.py) starts an
installed `dockerd`, or installs Debian's `docker.io` as root on Debian/Ubuntu, and
anywhere else stops with the exact instruction.
"""

from __future__ import annotations

from release.adapters import machine
from release.machine import bootstrap

engine_answers = machine.engine_answers


def ensure_engine() -> None:
    machine.ensure(bootstrap.ENGINE)
