"""The one load generator of the Docker tests and the benchmarks: open-loop.

Requests go out on a fixed arrival schedule (request i is due at start + i/rate),
whatever earlier requests are doing: each one is its own asyncio task on a loop in a
thread of its own (or, with `process=True`, in a child process running this file, so
a busy caller does not delay it). Its latency is measured from the time it was *due*,
not from when it was sent, so a stall is charged in full to every request scheduled
during it (no coordinated omission); how late the generator itself was in sending is
recorded beside (`lag`), to tell a slow client from a slow server.

A request fails when the connection fails or times out, the status is not 2xx/3xx,
the response was not produced by the service (no `X-Served-By` header: the one every
service's base app sets, shared/common/http.py; HAProxy's own error pages lack it),
or `expect(body)` says the body is wrong.

`keepalive` is the share of requests sent on a reused keep-alive connection (0.0: a
new connection for every request). When the server closed a kept-alive connection
before answering a byte (the keep-alive race every HTTP client meets), the request is
sent again on a new connection, as browsers and urllib3 do, and marked `retried`
(counted per window as `stale_keepalive_retries`); any other failure on a reused
connection, and every failure on a new one, counts.

    with Load(port, "/waste/version", rate=100) as load:
        ...
    load.results    # [Result(at, latency, error, lag)], `at` = due time (time.time())
    load.failures   # those with an error
    load.scheduled()  # how many were due: rate × (stopped_at - started_at)
    load.series()   # per second: sent, ok, failed, p50, p99 (ms)

Only ever talks to 127.0.0.1. Standard library only: runs as a script too
(`python -m testing.loadgen --port P --path /x --rate R --out F.json`, until SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import select
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from testing.load_stats import (  # noqa: F401 (Result, NOT_SERVED: the API)
    NOT_SERVED,
    SERVED_BY,
    Result,
    due,
    reuses,
    series,
    verdict,
    window,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TIMEOUT = 10.0
START_TIMEOUT = 30.0  # Load.start waits this long for the first request to be due


class _Stale(Exception):
    """A reused keep-alive connection closed before any byte of the answer."""


# -- HTTP/1.1 on asyncio streams ------------------------------------------------------


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    def close(self) -> None:
        self.writer.close()


async def _read_response(
    reader: asyncio.StreamReader,
) -> tuple[int, dict[str, str], bytes, bool]:
    """(status, headers lower-cased, body, server keeps the connection open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ConnectionError(f"bad status line {lines[0][:40]!r}")
    status = int(parts[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    keep = headers.get("connection", "").lower() != "close" and parts[0] == "HTTP/1.1"
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunks.append(await reader.readexactly(size + 2))
            if size == 0:
                break
        body = b"".join(c[:-2] for c in chunks)
    elif status in (204, 304) or 100 <= status < 200:
        body = b""
    else:
        body, keep = await reader.read(), False
    return status, headers, body, keep


class _Generator:
    """The asyncio side: one task per scheduled request."""

    def __init__(
        self,
        port: int,
        path: str,
        rate: float,
        keepalive: float,
        timeout: float,
        expect: Callable[[bytes], bool] | None,
        host: str = "127.0.0.1",
        tls: ssl.SSLContext | None = None,
    ):
        self.port, self.path, self.rate = port, path, rate
        self.keepalive, self.timeout, self.expect = keepalive, timeout, expect
        self.host, self.tls = host, tls
        self.results: list[Result] = []
        self.idle: list[_Conn] = []
        self.stopping = False

    def request_bytes(self, keep: bool) -> bytes:
        return (
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"User-Agent: ecotrack-loadgen\r\n"
            f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n"
        ).encode()

    async def one(self, i: int, due_wall: float, due_mono: float) -> None:
        keep = reuses(i, self.keepalive)
        lag = time.monotonic() - due_mono
        error, retried = "", False
        try:
            async with asyncio.timeout(self.timeout):
                reused = self.idle.pop() if keep and self.idle else None
                try:
                    error = await self.exchange(reused, keep)
                except _Stale:
                    # The server closed a kept-alive connection before answering a
                    # byte (the keep-alive race): like every HTTP client, send the
                    # (idempotent) request again on a new connection; recorded.
                    retried = True
                    error = await self.exchange(None, keep)
        except TimeoutError:
            error = "timeout"
        except (OSError, EOFError, asyncio.IncompleteReadError, ValueError) as exc:
            error = type(exc).__name__
        self.results.append(
            Result(due_wall, time.monotonic() - due_mono, error, max(0.0, lag), retried)
        )

    async def exchange(self, conn: "_Conn | None", keep: bool) -> str:
        """One request and its verdict; raises _Stale when a reused connection was
        closed before any byte of an answer."""
        reused = conn is not None
        if conn is None:
            conn = _Conn(
                *await asyncio.open_connection(self.host, self.port, ssl=self.tls)
            )
        try:
            try:
                conn.writer.write(self.request_bytes(keep))
                await conn.writer.drain()
                status, headers, body, server_keeps = await _read_response(conn.reader)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                partial = getattr(exc, "partial", b"")
                if reused and not partial:
                    raise _Stale() from None
                raise
            error = verdict(status, headers, body, self.expect)
            if keep and server_keeps and not self.stopping:
                self.idle.append(conn)
                conn = None
            return error
        finally:
            if conn is not None:
                conn.close()

    async def run(self, stop: asyncio.Event, started: Callable[[], None]) -> None:
        start_mono, start_wall = time.monotonic(), time.time()
        started()
        tasks: set[asyncio.Task] = set()
        i = 0
        while not stop.is_set():
            at = due(i, start_mono, self.rate)
            delay = at - time.monotonic()
            if delay > 0:
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                    break
                except TimeoutError:
                    pass
            # Sent now even if late (the lag is recorded); its latency counts from
            # `at`, so time the generator itself lost is never hidden.
            wall = start_wall + (at - start_mono)
            task = asyncio.ensure_future(self.one(i, wall, at))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        self.stopping = True
        if tasks:
            await asyncio.wait(tasks, timeout=self.timeout + 2)
        for c in self.idle:
            c.close()
        self.results.sort(key=lambda r: r.at)


class Load:
    """Open-loop GET requests through the proxy at `rate`/s until the `with` ends.

    `start()` (entering the `with`) returns once the schedule has begun, and raises
    RuntimeError when the generator did not begin within START_TIMEOUT seconds."""

    def __init__(
        self,
        port: int,
        path: str = "/",
        rate: float = 40.0,
        keepalive: float = 0.5,
        timeout: float = DEFAULT_TIMEOUT,
        expect: Callable[[bytes], bool] | None = None,
        process: bool = False,
        threads: int | None = None,  # accepted for old callers; open-loop needs none
        tls_ca: str | None = None,  # HTTPS, verified with this CA file
    ):
        if rate <= 0 or not 0.0 <= keepalive <= 1.0:
            raise ValueError("rate must be positive and keepalive in [0, 1]")
        if process and tls_ca:
            raise ValueError("tls_ca= needs the in-process generator")
        self.tls = ssl.create_default_context(cafile=tls_ca) if tls_ca else None
        self.port, self.path, self.rate = port, path, rate
        self.keepalive, self.timeout, self.expect = keepalive, timeout, expect
        self.process = process
        if process and expect is not None:
            raise ValueError("expect= needs the in-process generator")
        self.results: list[Result] = []
        self.started_at = 0.0
        self.stopped_at = 0.0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._gen: _Generator | None = None
        self._proc: subprocess.Popen | None = None
        self._out: Path | None = None

    # -- in this process ---------------------------------------------------------------

    def _run_thread(self, ready: threading.Event) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await self._gen.run(self._stop, ready.set)

        asyncio.run(main())

    def start(self) -> "Load":
        self.started_at = time.time()
        if self.process:
            fd, out = tempfile.mkstemp(prefix="loadgen-", suffix=".json")
            os.close(fd)
            self._out = Path(out)
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "testing.loadgen",
                    "--port",
                    str(self.port),
                    "--path",
                    self.path,
                    "--rate",
                    str(self.rate),
                    "--keepalive",
                    str(self.keepalive),
                    "--timeout",
                    str(self.timeout),
                    "--out",
                    out,
                ],
                stdout=subprocess.PIPE,
                cwd=ROOT,  # where `-m testing.loadgen` is found
            )
            # "started": the schedule has begun (the first request goes out in the
            # same step). Waited for, bounded: a child that died or hangs is an error,
            # never a `with` block that silently runs without load.
            ready, _, _ = select.select([self._proc.stdout], [], [], START_TIMEOUT)
            line = self._proc.stdout.readline() if ready else b""
            if line.strip() != b"started":
                self._proc.kill()
                code = self._proc.wait()
                self._out.unlink(missing_ok=True)
                self._proc = None
                raise RuntimeError(
                    f"load generator child did not start within {START_TIMEOUT:.0f} s"
                    f" (exit code {code}, said {line[:80]!r})"
                )
            return self
        self._gen = _Generator(
            self.port,
            self.path,
            self.rate,
            self.keepalive,
            self.timeout,
            self.expect,
            tls=self.tls,
        )
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run_thread, args=(ready,), daemon=True
        )
        self._thread.start()
        # Bounded wait for the schedule to begin; a thread that died before (its
        # exception is printed by threading) or never got there is an error.
        deadline = time.monotonic() + START_TIMEOUT
        while not ready.wait(0.1):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                if self._loop is not None and self._stop is not None:
                    with contextlib.suppress(RuntimeError):  # its loop already closed
                        self._loop.call_soon_threadsafe(self._stop.set)
                self._thread.join(timeout=5)
                self._thread = None
                raise RuntimeError(
                    f"load generator thread did not start within {START_TIMEOUT:.0f} s"
                )
        return self

    def stop(self) -> list[Result]:
        self.stopped_at = time.time()
        if self._proc is not None:
            self._proc.send_signal(signal.SIGTERM)
            self._proc.wait(timeout=self.timeout + 30)
            raw = json.loads(self._out.read_text())
            self._out.unlink()
            self.results = [Result(*r) for r in raw]
            self._proc = None
        elif self._thread is not None:
            if self._loop is not None and self._stop is not None:
                self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join()
            self.results = self._gen.results
            self._thread = None
        return self.results

    def __enter__(self) -> "Load":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what happened ---------------------------------------------------------------

    def scheduled(self) -> float:
        """How many requests were due between start() and stop(): rate × seconds."""
        return self.rate * max(0.0, self.stopped_at - self.started_at)

    @property
    def failures(self) -> list[Result]:
        return [r for r in self.results if r.error]

    def series(self, start: float | None = None) -> list[dict]:
        return series(self.results, self.started_at if start is None else start)

    def window(self, start: float, end: float) -> dict:
        return window(self.results, start, end)


def main(argv: Sequence[str] | None = None) -> None:
    """The child-process mode: runs until SIGTERM, then writes the results."""
    p = argparse.ArgumentParser(description="open-loop HTTP load on 127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/")
    p.add_argument("--rate", type=float, default=40.0)
    p.add_argument("--keepalive", type=float, default=0.0)
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    p.add_argument("--duration", type=float, default=0.0, help="0: until SIGTERM")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    gen = _Generator(a.port, a.path, a.rate, a.keepalive, a.timeout, None)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        # Never outlive the process that started it (a bench that died).
        parent = os.getppid()

        def orphaned() -> None:
            if os.getppid() != parent:
                stop.set()
            else:
                loop.call_later(1.0, orphaned)

        loop.call_later(1.0, orphaned)
        if a.duration:
            loop.call_later(a.duration, stop.set)

        def started() -> None:
            print("started", flush=True)

        await gen.run(stop, started)

    asyncio.run(run())
    Path(a.out).write_text(json.dumps([list(r) for r in gen.results]))


if __name__ == "__main__":
    main()
