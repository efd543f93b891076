"""A bounded loopback load generator shared by the Docker tests and benchmarks."""

from __future__ import annotations

import http.client
import threading
import time


class Load:
    """GET requests through the proxy at `rate`/s on keep-alive connections, in
    threads, until stopped; counts failures (connection errors, timeouts, 5xx)."""

    def __init__(self, port: int, path: str, rate: float = 40.0, threads: int = 4):
        self.port, self.path = port, path
        self.interval = threads / rate
        self.stop_event = threading.Event()
        self.results: list[tuple[float, float, str]] = []
        self._lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._run, args=(i * self.interval / threads,))
            for i in range(threads)
        ]

    def _run(self, offset: float) -> None:
        conn = None
        due = time.perf_counter() + offset
        while not self.stop_event.is_set():
            started, t0 = time.time(), time.perf_counter()
            error = ""
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(
                        "127.0.0.1", self.port, timeout=10
                    )
                conn.request("GET", self.path)
                r = conn.getresponse()
                r.read()
                if r.status >= 500:
                    error = f"HTTP {r.status}"
            except (OSError, http.client.HTTPException) as exc:
                error = type(exc).__name__
                if conn is not None:
                    conn.close()
                conn = None
            with self._lock:
                self.results.append((started, time.perf_counter() - t0, error))
            due += self.interval
            time.sleep(max(0.0, due - time.perf_counter()))
        if conn is not None:
            conn.close()

    def __enter__(self) -> "Load":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join()

    @property
    def failures(self) -> list[tuple[float, float, str]]:
        return [r for r in self.results if r[2]]
