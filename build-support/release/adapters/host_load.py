"""How busy this machine is, from the kernel: load average and CPU pressure (PSI),
for the deploy's messages. A health check that times out on a busy host says the
host is busy; the message says so too."""

from __future__ import annotations

import os
from pathlib import Path

PRESSURE = Path("/proc/pressure/cpu")
BUSY_PRESSURE = 25.0  # % of the last 10 s some task waited for a CPU


def cpu_pressure(text: str) -> float | None:
    """`some avg10` of /proc/pressure/cpu, in %."""
    for line in text.splitlines():
        if line.startswith("some "):
            for field in line.split()[1:]:
                key, _, value = field.partition("=")
                if key == "avg10":
                    return float(value)
    return None


def busy(load1: float, cpus: int, pressure: float | None) -> bool:
    return load1 > cpus or (pressure is not None and pressure >= BUSY_PRESSURE)


def describe() -> str:
    """ "load average 9.1 on 2 CPUs, CPU pressure 63 %" when busy, else ""."""
    load1, cpus = os.getloadavg()[0], os.cpu_count() or 1
    try:
        pressure = cpu_pressure(PRESSURE.read_text())
    except OSError:  # no PSI in this kernel
        pressure = None
    if not busy(load1, cpus, pressure):
        return ""
    said = f"load average {load1:.1f} on {cpus} CPUs"
    return said + (f", CPU pressure {pressure:.0f} %" if pressure is not None else "")
