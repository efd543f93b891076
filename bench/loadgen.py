"""Benchmark: our open-loop load generator (testing/loadgen.py) against Debian's `hey`.

    ./inv bench loadgen [--args='--rate 120 --seconds 10']

Both send GET requests at the same rate to one small local HTTP server (http.server
on 127.0.0.1, in this process; the generators run in processes of their own), a new
connection per request, one after the other in one run:

  steady     the server answers at once: both should see the same rate and latency
  stall      the server stalls for 1 s in the middle of the run (every request that
             arrives then is answered when the stall ends)

`hey -z S -q RATE -c 1 -disable-keepalive` is rate-limited per worker and closed-loop:
its one worker waits for each response, so during a stall it sends nothing and then
counts one slow request; ours keeps sending on schedule and charges the stall to every
request scheduled during it (latency from the scheduled time). The table states both.
Needs `hey` (apt-get install -y hey).
"""

from __future__ import annotations

import argparse
import csv
import http.server
import io
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench import report
from testing import load_stats
from testing.load_stats import Result
from testing.loadgen import Load

ROOT = Path(__file__).resolve().parents[1]

STALL = 1.0


class Server:
    def __init__(self):
        self.stall_from = float("inf")
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                now = time.time()
                if server.stall_from <= now < server.stall_from + STALL:
                    time.sleep(server.stall_from + STALL - now)
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("X-Served-By", "bench")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Threading(http.server.ThreadingHTTPServer):
            # listen(5), the default, drops SYNs whenever this process is slow to
            # accept: the client then retries after 1 s, a stall of the bench's own.
            request_queue_size = 1024
            daemon_threads = True

        self.httpd = Threading(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def ours(port: int, rate: float, seconds: float) -> tuple[list[Result], float]:
    load = Load(port, "/", rate, keepalive=0.0, process=True)
    load.start()
    start = time.time()
    time.sleep(seconds)
    return load.stop(), start


def hey(port: int, rate: float, seconds: float) -> tuple[list[Result], float, str]:
    """hey's per-request CSV as Results (offset from its start = when it sent)."""
    start = time.time()
    r = subprocess.run(
        [
            "hey",
            "-z",
            f"{seconds:g}s",
            "-q",
            f"{rate:g}",
            "-c",
            "1",
            "-disable-keepalive",
            "-o",
            "csv",
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    results = [
        Result(
            start + float(row["offset"]),
            float(row["response-time"]),
            "" if row["status-code"] == "200" else f"HTTP {row['status-code']}",
        )
        for row in rows
    ]
    return results, start, r.stderr.strip()


def summary(results: list[Result], start: float, seconds: float) -> dict:
    w = load_stats.window(results, start, start + seconds + 5)
    w["rate"] = w["requests"] / seconds
    return w


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=120.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", default=str(report.RESULTS / "loadgen.json"))
    args = parser.parse_args()
    if not shutil.which("hey"):
        print("bench/loadgen.py needs hey: apt-get install -y hey", file=sys.stderr)
        return 2
    out = Path(args.out)
    server = Server()
    rows = []
    for case in ("steady", "stall"):
        for name, run in (("ours (open-loop)", ours), ("hey -c 1 (closed)", hey)):
            print(f"bench: {case}, {name} ...", file=sys.stderr, flush=True)
            stall_at = time.time() + args.seconds / 2 if case == "stall" else 1e18
            server.stall_from = stall_at
            got = run(server.port, args.rate, args.seconds)
            results, start = got[0], got[1]
            row = {"case": case, "generator": name}
            row.update(summary(results, start, args.seconds))
            if case == "stall":
                inside = load_stats.window(results, stall_at, stall_at + STALL)
                row["in_stall"] = {
                    "requests": inside["requests"],
                    "p50": inside["p50"],
                    "max": inside["max"],
                }
                png = out.parent / f"loadgen-stall-{report.slug(name)}.png"
                row["plot"] = str(
                    report.plot_case(
                        png,
                        f"{name}: {args.rate:.0f} req/s, server stalls 1 s at t=0",
                        results,
                        stall_at,
                        stall_at + STALL,
                        before=args.seconds / 2,
                    )
                )
            rows.append(row)
            time.sleep(1)
    server.httpd.shutdown()
    print(
        f"\nload generators at {args.rate:.0f} req/s for {args.seconds:.0f}s each, "
        "new connection per request, local http.server\n"
    )
    header = (
        f"{'case':<7} {'generator':<20} {'requests':>8} {'rate':>7} {'p50':>8} "
        f"{'p99':>8} {'max':>8} {'failed':>6}  in the 1 s stall"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        stall = r.get("in_stall")
        print(
            f"{r['case']:<7} {r['generator']:<20} {r['requests']:>8} "
            f"{r['rate']:>7.1f} {r['p50']:>6.1f}ms {r['p99']:>6.1f}ms "
            f"{r['max']:>6.1f}ms {r['failed']:>6}  "
            + (
                f"{stall['requests']} requests, p50 {stall['p50']:.0f}ms"
                if stall
                else ""
            )
        )
    steady = {r["generator"]: r for r in rows if r["case"] == "steady"}
    stalled = {r["generator"]: r for r in rows if r["case"] == "stall"}
    a, b = steady["ours (open-loop)"], steady["hey -c 1 (closed)"]
    sa, sb = stalled["ours (open-loop)"], stalled["hey -c 1 (closed)"]
    verdict = (
        f"\nsteady: ours {a['rate']:.1f} req/s p50 {a['p50']:.1f}ms p99 "
        f"{a['p99']:.1f}ms vs hey {b['rate']:.1f} req/s p50 {b['p50']:.1f}ms p99 "
        f"{b['p99']:.1f}ms (p50 differs by {a['p50'] - b['p50']:+.1f}ms).\n"
        f"stall: ours counted {sa['in_stall']['requests']} requests due in the 1 s "
        f"stall (p50 {sa['in_stall']['p50']:.0f}ms), hey sent "
        f"{sb['in_stall']['requests']} in it: a closed-loop generator hides a stall "
        f"(coordinated omission); its p99 over the run was {sb['p99']:.0f}ms, ours "
        f"{sa['p99']:.0f}ms."
    )
    print(verdict)
    report.write_json(
        "loadgen",
        {"rate": args.rate, "seconds": args.seconds, "rows": rows, "verdict": verdict},
        out,
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
