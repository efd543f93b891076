"""Does one client hammering /auth/login hurt another user's logins?

    ./inv up --port 18080 --tls-port 0 --internal-port 0 --project abuse
    ./inv bench login_abuse --args='--port 18080 --project abuse [--rate 40]'
    ./inv down --project abuse --volumes

Open-loop on both sides (each request sent at its scheduled time, whatever the
others do): the hammer, from this machine (the proxy sees the Docker bridge's
address), logs in with a wrong password at --rate per second; the other user, from
inside the proxy's container (address 127.0.0.1), logs in correctly at --user-rate.
First the other user alone, then both together. Prints the hammer's 429s and the
other user's p50/p99 in each phase, side by side. Exit 1 when the hammer got no
429 or the other user was refused. Sends traffic only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx

from testing.commands import docker
from testing.load_stats import percentile

# One open-loop client, stdlib only: it runs here and inside the proxy's container.
CLIENT = r"""
import json, sys, threading, time, urllib.request, urllib.error
url, user, password, rate, seconds = sys.argv[1:6]
rate, seconds = float(rate), float(seconds)
body = json.dumps({"username": user, "password": password}).encode()
out, lock = [], threading.Lock()
def one(due):
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        status = urllib.request.urlopen(req, timeout=30).status
    except urllib.error.HTTPError as e:
        status = e.code
    except Exception:
        status = 0
    with lock:
        out.append((status, time.monotonic() - due))
start = time.monotonic() + 0.2
threads = []
for i in range(int(rate * seconds)):
    due = start + i / rate
    time.sleep(max(0.0, due - time.monotonic()))
    t = threading.Thread(target=one, args=(due,)); t.start(); threads.append(t)
for t in threads:
    t.join()
print(json.dumps(out))
"""


def proxy_container(project: str) -> str:
    ids = docker(
        "ps", "-q", "--filter", f"label=com.docker.compose.project={project}",
        "--filter", "label=com.docker.compose.service=proxy",
    ).split()  # fmt: skip
    if not ids:
        sys.exit(f"error: no running proxy in Compose project {project}")
    return ids[0]


def run_client(cmd: list[str], into: list) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    into.extend(json.loads(r.stdout))


def summary(answers: list) -> dict:
    ok = sorted(lat for status, lat in answers if status == 200)
    return {
        "sent": len(answers),
        "ok": len(ok),
        "429": sum(1 for s, _ in answers if s == 429),
        "other": sum(1 for s, _ in answers if s not in (200, 429, 401)),
        "p50_ms": round(percentile(ok, 0.5) * 1000, 1) if ok else None,
        "p99_ms": round(percentile(ok, 0.99) * 1000, 1) if ok else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="the proxy's port")
    parser.add_argument("--project", required=True, help="the Compose project")
    parser.add_argument("--rate", type=float, default=40.0, help="hammer logins/s")
    parser.add_argument("--user-rate", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    proxy = proxy_container(args.project)
    base = f"http://127.0.0.1:{args.port}"
    user, password = f"bench_{uuid.uuid4().hex[:8]}", "bench-password-123"
    r = httpx.post(
        f"{base}/auth/register", json={"username": user, "password": password}
    )
    if r.status_code != 201:
        sys.exit(f"error: cannot register the bench user (HTTP {r.status_code})")
    inside = ["docker", "exec", proxy, "python3", "-c", CLIENT,
              "http://127.0.0.1:8080/auth/login", user, password]  # fmt: skip
    window = [str(args.user_rate), str(args.seconds)]
    alone: list = []
    print(f"bench: the other user alone, {args.seconds:.0f}s ...", file=sys.stderr)
    run_client(inside + window, alone)
    time.sleep(10)  # the limit's window: start the hammer on a clean slate
    print(f"bench: with the hammer at {args.rate:.0f}/s ...", file=sys.stderr)
    hammer: list = []
    together: list = []
    hammer_cmd = [sys.executable, "-c", CLIENT, f"{base}/auth/login", user,
                  "wrong-password", str(args.rate), str(args.seconds)]  # fmt: skip
    threads = [
        threading.Thread(target=run_client, args=(hammer_cmd, hammer)),
        threading.Thread(target=run_client, args=(inside + window, together)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = {
        "user_alone": summary(alone),
        "user_with_hammer": summary(together),
        "hammer": summary(hammer),
        "rate": args.rate,
        "user_rate": args.user_rate,
        "seconds": args.seconds,
    }
    a, w, h = result["user_alone"], result["user_with_hammer"], result["hammer"]
    print(f"{'':24}{'user alone':>14}{'with hammer':>14}")
    print(f"{'user p50 (ms)':24}{a['p50_ms']!s:>14}{w['p50_ms']!s:>14}")
    print(f"{'user p99 (ms)':24}{a['p99_ms']!s:>14}{w['p99_ms']!s:>14}")
    print(f"{'user ok / sent':24}{a['ok']}/{a['sent']:<10}{w['ok']:>10}/{w['sent']}")
    print(f"hammer: {h['sent']} sent, {h['429']} answered 429, {h['other']} errors")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    refused = w["ok"] < w["sent"] or a["ok"] < a["sent"]
    return 1 if h["429"] == 0 or refused else 0


if __name__ == "__main__":
    sys.exit(main())
