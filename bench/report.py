"""What the benches write: bench/results/<name>.json and a PNG per case.

A case's plot shows each request's latency (measured from its scheduled time, open
loop) over time, failures as red marks along the top, and the deploy's phases (the
step lines the deploy printed) as labelled vertical lines over the action's span.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def under_load(
    port: int,
    path: str,
    rate: float,
    before: float,
    action: Callable[[float], object],
    keepalive: float = 0.0,
) -> tuple[dict, list, object]:
    """`action(start)` under the open-loop generator (testing/loadgen.py, in a process
    of its own) on 127.0.0.1:`port`: `before` seconds of load first, 2 s after.
    Returns the row's windows (before, during, duration, per-second series), every
    request's record and what `action` returned; the generator never outlives it."""
    from testing.loadgen import Load

    load = Load(port, path, rate, keepalive=keepalive, process=True)
    load.start()
    try:
        time.sleep(before + 1)
        start = time.time()
        result = action(start)
        end = time.time()
        time.sleep(2)
    finally:  # a failed action must not leave the generator running
        records = load.stop()
    row = {
        "rate": rate,
        "before": load.window(start - before, start),
        "during": load.window(start, end),
        "duration_s": end - start,
        "series": load.series(start - before - 1),
        "start": start,
        "end": end,
    }
    return row, records, result


def write_json(name: str, data: dict, out: Path | None = None) -> Path:
    path = out or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=_clean) + "\n")
    return path


def write_results(name: str, data: dict, out: Path) -> Path:
    """A bench's JSON with the machine's CPUs and load average added; says where."""
    load = os.getloadavg()
    cases = data.get("cases", [])
    path = write_json(
        name, {**data, "cpus": os.cpu_count(), "load_average_at_end": load}, out
    )
    print(
        f"\nwrote {path} and {len(cases)} plots beside it; load average at the end: "
        f"{load[0]:.1f}"
    )
    return path


def _clean(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


def plot_case(
    path: Path,
    title: str,
    results: Sequence,  # loadgen.Result: at, latency, error, lag
    start: float,
    end: float,
    phases: Sequence[tuple[float, str]] = (),
    before: float | None = None,
) -> Path:
    """Latency over time (t = 0 when the action starts), the action's span shaded,
    its phases marked, failures in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4.8), dpi=100)
    ok = [(r[0] - start, r[1] * 1000) for r in results if not r[2]]
    bad = [(r[0] - start, r[1] * 1000) for r in results if r[2]]
    if ok:
        ax.scatter(*zip(*ok), s=3, alpha=0.35, color="tab:blue", label="ok")
    top = max([ms for _, ms in ok] + [10.0])
    if bad:
        ax.scatter(
            [t for t, _ in bad],
            [top * 1.3] * len(bad),
            marker="x",
            s=18,
            color="tab:red",
            label=f"failed ({len(bad)})",
        )
    ax.axvspan(0, end - start, color="tab:orange", alpha=0.08, label="action")
    if before is not None:
        ax.axvspan(-before, 0, color="tab:green", alpha=0.05, label="before window")
    last = -1e9
    for at, label in phases:
        t = at - start
        ax.axvline(t, color="grey", lw=0.6, ls=":")
        if t - last > (end - start) / 25:  # keep labels from piling up
            ax.text(t, top * 1.6, label, rotation=90, fontsize=6, va="top")
            last = t
    ax.set_yscale("log")
    ax.set_ylim(0.3, top * 3)
    ax.set_xlabel("seconds from the start of the action")
    ax.set_ylabel("latency from scheduled time (ms)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
