"""Which Docker operation slows requests through the proxy of a running stack?

    ./inv up --port 18080 --tls-port 0 --internal-port 0 --project stalls
    ./inv bench stalls --args='--port 18080 --project stalls [--rate 120]'
    ./inv down --project stalls

Open-loop load (testing/loadgen.py, a new connection per request) to one service
through the proxy, and at fixed moments what a roll does to the engine: containers
of the service's image created and started on the stack's network (start_new, at
the warm-up CPU weight), `docker exec`s into the proxy (the runtime API reached by
exec), a `docker exec` of a Python check in a replica (an early health verdict),
then those containers stopped and removed (retire_old). Prints each window's p50,
p99 and max beside the quiet windows between them. Attribution, not a target:
nothing here is asserted by the tests. Sends traffic only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from testing.commands import docker
from testing.load_stats import percentile
from testing.loadgen import Load

ROOT = Path(__file__).resolve().parents[1]


def first(project: str, service: str) -> str:
    ids = docker(
        "ps",
        "-q",
        "--filter",
        f"label=com.docker.compose.project={project}",
        "--filter",
        f"label=com.docker.compose.service={service}",
    ).split()
    if not ids:
        sys.exit(f"no running {service} in Compose project {project} (./inv up first)")
    return ids[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="the proxy's port")
    parser.add_argument("--project", required=True, help="the Compose project")
    parser.add_argument("--service", default="recycling")
    parser.add_argument("--rate", type=float, default=120.0)
    parser.add_argument("--execs", type=int, default=5, help="execs into the proxy")
    args = parser.parse_args()
    replica = first(args.project, args.service)
    proxy = first(args.project, "proxy")
    image = docker("inspect", "-f", "{{.Config.Image}}", replica)
    network = docker(
        "network",
        "ls",
        "-q",
        "--filter",
        f"label=com.docker.compose.project={args.project}",
    ).split()[0]
    marks: list[tuple[str, float]] = []

    def mark(name: str) -> None:
        marks.append((name, time.time()))

    path = f"/{args.service}/guidelines"
    new: list[str] = []
    with Load(args.port, path, rate=args.rate, process=True) as load:
        time.sleep(8)
        mark("quiet")
        time.sleep(5)
        mark("2 containers created and started")
        new = [
            docker("create", "--network", network, "--cpu-shares", "128", image)
            for _ in range(2)
        ]
        docker("start", *new)
        time.sleep(4)
        mark("quiet")
        time.sleep(4)
        mark(f"{args.execs} execs into the proxy")
        for _ in range(args.execs):
            docker("exec", proxy, "true")
        time.sleep(3)
        mark("1 Python exec in a replica")
        docker("exec", replica, "/app/bin/python", "-c", "import urllib.request")
        time.sleep(3)
        mark("2 containers stopped and removed")
        docker("rm", "-f", *new)
        time.sleep(4)
        mark("end")
    print(f"\n{args.rate:.0f} req/s open-loop to {path} through the proxy\n")
    print(f"{'window':<36}{'requests':>9}{'failed':>7}{'p50':>9}{'p99':>9}{'max':>9}")
    for (name, start), (_, end) in zip(marks, marks[1:]):
        window = [r for r in load.results if start <= r.at < end]
        ms = [r.latency * 1000 for r in window]
        print(
            f"{name:<36}{len(window):>9}{sum(1 for r in window if r.error):>7}"
            f"{percentile(ms, 0.5):>7.1f}ms{percentile(ms, 0.99):>7.1f}ms"
            f"{max(ms, default=float('nan')):>7.1f}ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
