"""The shared remote cache, end to end: a real BuildGrid server (`./inv cache`'s
adapter, on a free port, data in a temp dir) and real `./pants` runs against it, each
with its own empty local store (`--local-store-dir`), so only the remote cache can
make a result come back.

- credentials: the writer token writes; the reader token (what pull requests get)
  and a client without a token cannot write; the reader then gets the writer's
  results ("cached remotely");
- the server killed during a build: the build completes, Pants warns;
- corrupted and evicted CAS blobs: no wrong result is used (Pants verifies digests),
  the build reruns what it must and succeeds.

Each Pants run is `test shared/core::` (two small test files), about 20-30 s.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from release.adapters import buildgrid
from release.adapters.daemons import free_port
from release.machine import cache
from testing.exposure import outside_address

ROOT = Path(__file__).resolve().parents[1]

TARGET = "shared/core::"
PANTS_TIMEOUT = 600


def _server(tmp_path_factory, name):
    data = tmp_path_factory.mktemp(name)
    settings = cache.ServerSettings("127.0.0.1", free_port(), str(data))
    buildgrid.start(settings, buildgrid.ensure_bgd())
    return settings


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    settings = _server(tmp_path_factory, "cache")
    yield settings
    buildgrid.stop(Path(settings.data_dir))


def _env(settings, role, write):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANTS_REMOTE")}
    env.pop("ECOTRACK_CACHE_WRITE", None)
    env[cache.ADDRESS_VAR] = settings.address
    env[cache.TOKEN_FILE_VAR] = settings.token_path(role)
    if write:
        env[cache.WRITE_VAR] = "true"
    return env


def _cmd(store: Path, *extra):
    return [
        "./pants",
        "--no-pantsd",
        f"--local-store-dir={store}",
        "--stats-log",
        *extra,
        "test",
        TARGET,
    ]


def _stats(output: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"^\s+(\w+): (\d+)$", output, re.M)}


def pants(store, env, *extra):
    r = subprocess.run(
        _cmd(store, *extra),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=PANTS_TIMEOUT,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    return out, _stats(out)


def counters(settings, until=None, timeout: float = 10.0) -> buildgrid.Usage:
    """The server's own counters (`./inv cache status`'s: its statsd metrics file and
    its CAS). A call reaches that file a moment after it is answered: with `until`,
    read again for up to `timeout` seconds until it holds."""
    deadline = time.monotonic() + timeout
    while True:
        u = buildgrid.usage(Path(settings.data_dir))
        if until is None or until(u) or time.monotonic() > deadline:
            return u
        time.sleep(0.2)


def test_without_the_writer_token_nothing_is_written(server, tmp_path):
    before = counters(server)
    # The reader token, even with writes asked for (as a PR build could try).
    out, stats = pants(tmp_path / "store-reader", _env(server, "reader", write=True))
    assert "read-write" in out  # the client did try to write ...
    assert stats["remote_cache_write_attempts"] > 0
    assert stats["remote_cache_write_successes"] == 0  # ... and was refused
    assert stats["remote_cache_read_errors"] == 0  # reading is allowed
    # The server says the same: it answered the reader's lookups (misses: the cache
    # is empty) and refused its writes; a dead server or one refusing reads fails.
    reader = counters(
        server, lambda u: u.misses > before.misses and u.denied > before.denied
    )
    assert reader.misses > before.misses, (before, reader)
    assert reader.denied > before.denied, (before, reader)
    assert reader.writes == before.writes == 0
    # No token at all: the same flags by hand, without the bearer token.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANTS_REMOTE")}
    env.pop(cache.ADDRESS_VAR, None)
    flags = cache.pants_flags(
        {
            "PANTS_REMOTE_CACHE_READ": "true",
            "PANTS_REMOTE_CACHE_WRITE": "true",
            "PANTS_REMOTE_STORE_ADDRESS": server.address,
            "PANTS_REMOTE_INSTANCE_NAME": "",
        }
    )
    out, stats = pants(tmp_path / "store-anon", env, *flags)
    assert stats["remote_cache_write_successes"] == 0
    assert stats["remote_cache_write_errors"] > 0
    assert "Unauthenticated" in out
    after = counters(server, lambda u: u.denied > reader.denied)
    assert after.writes == before.writes == 0 and after.hits == 0
    assert after.denied > reader.denied, (reader, after)  # the anonymous calls
    assert after.cas_blobs == 0  # not one blob either


def test_writer_fills_the_cache_and_a_fresh_reader_gets_it(server, tmp_path):
    before = counters(server)
    _, stats = pants(tmp_path / "store-w", _env(server, "writer", write=True))
    assert stats["remote_cache_write_successes"] > 0
    assert stats["remote_cache_write_errors"] == 0
    # The server stored the results (the two test files' at least), refusing none.
    written = counters(server, lambda u: u.writes >= before.writes + 2)
    assert written.writes >= before.writes + 2, (before, written)
    assert written.denied == before.denied, (before, written)
    assert written.cas_blobs > 0
    out, stats = pants(tmp_path / "store-r", _env(server, "reader", write=False))
    assert "read-only" in out
    assert out.count("(cached remotely)") == 2, out[-2000:]
    cached = stats["remote_cache_requests_cached"]
    assert cached == stats["remote_cache_requests"] >= 2
    # The server's own hits: one for every result the reader got from it; it
    # refused nothing and stored nothing for a read-only client.
    read = counters(server, lambda u: u.hits - written.hits >= cached)
    assert read.hits - written.hits >= cached, (written, read, cached)
    assert read.denied == written.denied, (written, read)
    assert read.writes == written.writes, (written, read)


def test_server_killed_during_a_build_the_build_completes(tmp_path_factory, tmp_path):
    settings = _server(tmp_path_factory, "cache-kill")
    try:
        proc = subprocess.Popen(
            _cmd(tmp_path / "store"),
            cwd=ROOT,
            env=_env(settings, "writer", write=True),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines, killed_at = [], None
        for line in proc.stdout:
            lines.append(line)
            # Pants is building (its first processes are done, the tests are not).
            if killed_at is None and "Completed:" in line:
                state = buildgrid.running(Path(settings.data_dir))
                os.killpg(state.pid, signal.SIGKILL)
                killed_at = len(lines)
        rc = proc.wait(timeout=PANTS_TIMEOUT)
        out = "".join(lines)
        assert killed_at is not None, out[-2000:]
        assert rc == 0, out[-3000:]
        after_kill = "".join(lines[killed_at:])
        assert "succeeded" in after_kill  # the tests ran after the kill
        assert re.search(r"\[WARN\] Failed to (read from|write to) remote cache", out)
        # And the next build, with the server still gone: one line, local only.
        time.sleep(0.5)
        out, _ = pants(tmp_path / "store2", _env(settings, "writer", write=True))
        assert "does not answer: local cache only" in out
        assert "Failed to" not in out
    finally:
        buildgrid.stop(Path(settings.data_dir))


def _blobs(settings):
    objects = Path(settings.data_dir) / "cas"
    return [
        p
        for p in objects.rglob("*")
        if p.is_file() and "tmp" not in p.relative_to(objects).parts
    ]


def _asked_and_answered(server, before, out: str) -> None:
    """Nothing came from the cache because its content was bad, not because it was
    down or refused the reader: the server answered lookups and refused nothing."""
    assert "does not answer" not in out, out[-2000:]
    asked = before.hits + before.misses
    after = counters(server, lambda u: u.hits + u.misses > asked)
    assert after.hits + after.misses > asked, (before, after)
    assert after.denied == before.denied, (before, after)


def test_corrupted_cas_blobs_are_never_used(server, tmp_path):
    blobs = _blobs(server)
    assert blobs, "the writer test should have filled the cache"
    for blob in blobs:  # same size, different bytes: only a digest check sees it
        data = bytearray(blob.read_bytes())
        if data:
            data[-1] ^= 0xFF
            blob.write_bytes(bytes(data))
    before = counters(server)
    out, stats = pants(tmp_path / "store", _env(server, "reader", write=False))
    assert "(cached remotely)" not in out, out[-2000:]
    assert out.count("succeeded") >= 2
    assert stats["remote_cache_requests_cached"] == 0
    # A lookup whose blobs are corrupt is counted as neither a hit nor a miss in the
    # server's metrics (seen: hits + misses unchanged), so only refusals are checked.
    assert "does not answer" not in out, out[-2000:]
    assert counters(server).denied == before.denied


def test_evicted_cas_blobs_are_never_used(server, tmp_path):
    for blob in _blobs(server):  # the action cache still names them
        blob.unlink()
    before = counters(server)
    out, stats = pants(tmp_path / "store", _env(server, "reader", write=False))
    assert "(cached remotely)" not in out, out[-2000:]
    assert out.count("succeeded") >= 2
    assert stats["remote_cache_requests_cached"] == 0
    _asked_and_answered(server, before, out)


# -- TLS, the bind rule and token rotation (a real BuildGrid, a real gRPC client) -----

CLIENT = r"""
import sys, grpc
from buildgrid._protos.build.bazel.remote.execution.v2 import (
    remote_execution_pb2 as re_pb2, remote_execution_pb2_grpc as re_grpc)
target, ca, token = sys.argv[1:4]
if ca == "-":
    channel = grpc.insecure_channel(target)
else:
    roots = open(ca, "rb").read() if ca != "system" else None
    channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(roots))
bearer = "Bearer " + open(token).read().strip() if token != "-" else ""
meta = [("authorization", bearer)] if bearer else []
stub = re_grpc.ActionCacheStub(channel)
digest = re_pb2.Digest(hash="0" * 64, size_bytes=1)
try:
    stub.GetActionResult(
        re_pb2.GetActionResultRequest(instance_name="", action_digest=digest),
        metadata=meta, timeout=10)
    print("OK")
except grpc.RpcError as e:
    print(e.code().name)
"""


def lookup(settings, ca: str, token: str) -> str:
    """One action-cache lookup of an absent digest from a gRPC client in BuildGrid's
    venv: NOT_FOUND when the server answered it, else the refusal's status."""
    python = buildgrid.bgd_venv() / "bin" / "python"
    r = subprocess.run(
        [str(python), "-c", CLIENT, f"{settings.host}:{settings.port}", ca, token],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.strip().splitlines()[-1]


def external_address() -> str:
    """This machine's first non-loopback IPv4 address (eth0's)."""
    addr = outside_address()
    if addr.startswith("127."):
        pytest.skip("this machine has no non-loopback IPv4 address")
    return addr


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    from release.devenv import tls

    host = external_address()
    certs = tls.issue(tmp_path_factory.mktemp("ca"), "cache", [host])
    data = tmp_path_factory.mktemp("cache-tls")
    settings = cache.ServerSettings(
        host, free_port(), str(data), tls_cert=str(certs.cert), tls_key=str(certs.key)
    )
    buildgrid.start(settings, buildgrid.ensure_bgd())
    yield settings, certs
    buildgrid.stop(Path(settings.data_dir))


def test_off_loopback_without_tls_is_refused(tmp_path):
    host, port = external_address(), free_port()
    try:
        r = subprocess.run(
            ["./inv", "cache", "up", "--bind", host, "--port", str(port)]
            + ["--data-dir", str(tmp_path / "data")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:  # a server it should not have started is not left behind
        buildgrid.stop(tmp_path / "data")
    assert r.returncode == 2, r.stdout + r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert (
        len(lines) == 1 and lines[0].startswith("error: ") and "--tls-cert" in r.stderr
    )
    assert "running (pid" not in r.stdout


def test_tls_off_loopback_a_client_with_the_ca_is_answered_a_plain_one_is_not(
    tls_server,
):
    settings, certs = tls_server
    assert settings.address.startswith("grpcs://")
    writer = settings.token_path("writer")
    before = counters(settings)
    assert lookup(settings, str(certs.ca), writer) == "NOT_FOUND"
    answered = counters(settings, lambda u: u.misses > before.misses)
    assert answered.misses == before.misses + 1  # the server's own count
    # Plain gRPC to the TLS port, and TLS without trusting the CA: no answer.
    assert lookup(settings, "-", writer) == "UNAVAILABLE"
    assert lookup(settings, "system", writer) == "UNAVAILABLE"
    time.sleep(1)
    assert counters(settings).misses == answered.misses


def test_rotation_refuses_the_old_token(tls_server):
    settings, certs = tls_server
    saved = Path(settings.token_path("writer")).read_text()
    old = Path(settings.data_dir) / "old-writer.jwt"
    old.write_text(saved)
    assert lookup(settings, str(certs.ca), str(old)) == "NOT_FOUND"
    r = subprocess.run(
        ["./inv", "cache", "rotate", "--data-dir", settings.data_dir],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    state = buildgrid.running(Path(settings.data_dir))
    assert state and state.address == settings.address  # restarted, same TLS bind
    assert Path(settings.token_path("writer")).read_text() != saved
    assert lookup(settings, str(certs.ca), str(old)) == "UNAUTHENTICATED"
    assert lookup(settings, str(certs.ca), settings.token_path("writer")) == "NOT_FOUND"
    assert counters(settings, lambda u: u.denied > 0).denied > 0
