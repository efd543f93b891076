"""The open-loop load generator (testing/loadgen.py): its pure parts, its scheduler
without a network, and end to end against a tiny local server that stalls."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import time

import pytest

from testing import load_stats, loadgen
from testing.load_stats import Result
from testing.loadgen import Load

# -- pure parts -----------------------------------------------------------------------


def test_the_schedule_is_fixed():
    assert [load_stats.due(i, 100.0, 4.0) for i in range(5)] == [
        100.0,
        100.25,
        100.5,
        100.75,
        101.0,
    ]


@pytest.mark.parametrize("share", [0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_keepalive_share_is_spread_evenly(share):
    picks = [load_stats.reuses(i, share) for i in range(1000)]
    assert sum(picks) == round(1000 * share)
    for start in range(0, 900, 97):  # any window holds its share, ±1
        assert abs(sum(picks[start : start + 100]) - 100 * share) <= 1


def test_verdict_is_strict():
    served = {"x-served-by": "waste"}
    assert load_stats.verdict(200, served, b"{}") == ""
    assert load_stats.verdict(500, served, b"{}") == "HTTP 500"
    assert load_stats.verdict(404, served, b"{}") == "HTTP 404"
    # HAProxy's own pages: no marker header
    assert load_stats.verdict(503, {}, b"<html>") == "HTTP 503 (proxy)"
    assert load_stats.verdict(404, {}, b"<html>") == "HTTP 404 (proxy)"
    assert load_stats.verdict(200, {}, b"{}") == load_stats.NOT_SERVED
    assert load_stats.verdict(200, served, b"{}", lambda b: b"ok" in b) == "wrong body"
    assert load_stats.verdict(200, served, b"ok", lambda b: b"ok" in b) == ""


def test_series_and_window():
    rs = [
        Result(10.0, 0.010, ""),
        Result(10.5, 0.030, "timeout"),
        Result(11.2, 0.020, ""),
        Result(13.1, 0.040, ""),
    ]
    s = load_stats.series(rs, start=10.0)
    assert [(x["t"], x["sent"], x["ok"], x["failed"]) for x in s] == [
        (0, 2, 1, 1),
        (1, 1, 1, 0),
        (2, 0, 0, 0),  # a second in which nothing was due is still there
        (3, 1, 1, 0),
    ]
    assert s[0]["p99"] == pytest.approx(30.0)
    w = load_stats.window(rs, 10.0, 12.0)
    assert (w["requests"], w["failed"], w["errors"]) == (3, 1, {"timeout": 1})


# -- the scheduler, without a network -------------------------------------------------


def test_requests_go_out_on_schedule_while_none_is_answered():
    """Open loop: responses that never come do not hold back the next requests."""
    gen = loadgen._Generator(1, "/", rate=200.0, keepalive=0.0, timeout=5, expect=None)
    sent: list[tuple[int, float]] = []
    hang = asyncio.Event()

    async def one(i, due_wall, due_mono):
        sent.append((i, time.monotonic() - due_mono))
        await hang.wait()  # never answered

    gen.one = one

    async def main():
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.5, stop.set)
        gen.timeout = 0.1  # how long run() waits for the hanging ones at the end
        await gen.run(stop, lambda: None)

    asyncio.run(main())
    assert 95 <= len(sent) <= 102  # 0.5 s × 200/s, though not one was answered
    assert [i for i, _ in sent] == list(range(len(sent)))
    assert sorted(lag for _, lag in sent)[len(sent) // 2] < 0.02


# -- end to end: a local server that stalls for a second ------------------------------


class Server:
    """HTTP/1.1 on 127.0.0.1 in threads; every request that arrives during
    [stall_from, stall_from + 1 s) is answered only when the stall ends."""

    def __init__(self, marker: bool = True, status: int = 200, close: bool = False):
        self.stall_from = float("inf")
        self.connections = 0
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with lock:
                    server.connections += 1

            def do_GET(self):
                with lock:
                    server.requests += 1
                now = time.monotonic()
                if server.stall_from <= now < server.stall_from + 1.0:
                    time.sleep(server.stall_from + 1.0 - now)
                body = json.dumps({"ok": True}).encode()
                self.send_response(status)
                if marker:
                    self.send_header("X-Served-By", "demo")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                if close:  # claims keep-alive, then closes: the keep-alive race
                    self.close_connection = True

            def log_message(self, *args):
                pass

        lock = threading.Lock()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def test_a_stall_is_charged_to_every_request_scheduled_during_it(server):
    rate = 50.0
    with Load(server.port, "/", rate=rate, keepalive=0.0) as load:
        time.sleep(1.0)
        stall_mono, stall_wall = time.monotonic() + 0.2, time.time() + 0.2
        server.stall_from = stall_mono
        time.sleep(2.5)
    during = [r for r in load.results if stall_wall <= r.at < stall_wall + 1.0]
    # every request due in the stall was sent (open loop) and counted ...
    assert abs(len(during) - rate) <= 2, len(during)
    # ... each with its full wait: from when it was due until the stall ended
    for r in during:
        assert r.latency >= (stall_wall + 1.0 - r.at) - 0.03, r
    assert load.failures == []
    assert load.window(stall_wall, stall_wall + 1.0)["p50"] >= 450
    after = load.window(stall_wall + 1.3, stall_wall + 2.0)
    assert after["p99"] < 200, after  # no leftover queue once the stall ended
    assert server.connections == len(load.results)  # keepalive=0: one each


def test_keepalive_reuses_connections(server):
    with Load(server.port, "/", rate=100.0, keepalive=1.0) as load:
        time.sleep(1.0)
    assert len(load.results) >= 90 and load.failures == []
    assert server.connections < len(load.results) / 3
    # due: 100/s over the `with` (>= 1 s); none sent that was not due
    assert 100 <= load.scheduled() and len(load.results) <= load.scheduled() + 1


def test_responses_not_from_the_service_fail():
    s = Server(marker=False, status=503)
    try:
        with Load(s.port, "/", rate=50.0, keepalive=0.0) as load:
            time.sleep(0.5)
    finally:
        s.close()
    assert load.results and all(r.error == "HTTP 503 (proxy)" for r in load.results)


def test_connection_refused_and_wrong_bodies_fail(server):
    with Load(server.port, "/", rate=50, expect=lambda b: b"nope" in b) as load:
        time.sleep(0.3)
    assert load.results and all(r.error == "wrong body" for r in load.results)
    port = server.port
    server.close()
    with Load(port, "/", rate=50, keepalive=0.0, timeout=1.0) as load:
        time.sleep(0.3)
    assert load.results and all(r.error for r in load.results), load.results[:3]


def test_the_child_process_mode_runs_the_same_generator(server):
    with Load(server.port, "/", rate=50.0, keepalive=0.0, process=True) as load:
        time.sleep(1.0)
    assert 40 <= len(load.results) <= 60 and load.failures == []
    assert server.connections == len(load.results)


def test_a_stale_keepalive_connection_is_retried_not_failed():
    s = Server(close=True)
    try:
        with Load(s.port, "/", rate=50.0, keepalive=1.0) as load:
            time.sleep(1.0)
    finally:
        s.close()
    assert load.failures == [], load.failures[:3]
    assert sum(r.retried for r in load.results) >= len(load.results) // 2
    assert load.window(0, 1e12)["stale_keepalive_retries"] > 0


# -- start() waits for the generator, bounded -----------------------------------------


def test_start_fails_when_the_child_process_dies_before_sending():
    with pytest.raises(RuntimeError, match="did not start"):
        # the child's argparse rejects the port: it exits before its schedule begins
        Load("not-a-port", "/", rate=10.0, process=True).start()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_start_fails_when_the_generator_thread_dies_before_sending(monkeypatch):
    async def broken(self, stop, started):
        raise OSError("no loop for you")

    monkeypatch.setattr(loadgen._Generator, "run", broken)
    with pytest.raises(RuntimeError, match="did not start"):
        Load(1, "/", rate=10.0).start()


def test_start_gives_up_on_a_generator_that_never_begins(monkeypatch):
    async def stuck(self, stop, started):
        await stop.wait()  # never calls started()

    monkeypatch.setattr(loadgen._Generator, "run", stuck)
    monkeypatch.setattr(loadgen, "START_TIMEOUT", 0.5)
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="did not start"):
        Load(1, "/", rate=10.0).start()
    assert time.monotonic() - t0 < 5
