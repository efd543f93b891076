"""The ssh bridge (adapters/ssh_bridge.py) without an sshd: the command that carries
a connection is replaced by one that echoes (`cat`) or fails as ssh does."""

from __future__ import annotations

import socket
import stat
import time
from dataclasses import dataclass

import pytest

from release.adapters import ssh_bridge
from release.adapters.ssh_bridge import Bridge, SshTarget
from release.base.errors import EngineError


@pytest.mark.parametrize(
    "endpoint, command",
    [
        (
            "ssh://deploy@10.0.1.10",
            ["ssh", "-l", "deploy", "--", "10.0.1.10"],
        ),
        (
            "ssh://deploy@web-1.example:2222",
            ["ssh", "-l", "deploy", "-p", "2222", "--", "web-1.example"],
        ),
        ("ssh://web-1", ["ssh", "--", "web-1"]),
    ],
)
def test_each_connection_runs_what_the_docker_cli_runs(endpoint, command):
    dial = SshTarget.parse(endpoint).dial_command()
    assert dial == command + ["docker", "system", "dial-stdio"]


def test_not_an_ssh_url_is_refused():
    with pytest.raises(EngineError, match="not an ssh:// Docker host"):
        SshTarget.parse("tcp://10.0.1.10:2375")


@dataclass(frozen=True)
class Carrier:
    argv: tuple[str, ...]

    def dial_command(self) -> list[str]:
        return list(self.argv)


@pytest.fixture
def echo():
    b = Bridge("ssh://deploy@example.invalid")
    b.target = Carrier(("cat",))
    yield b
    b.close()


def _round_trip(path, payload: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(path))
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def test_a_connection_is_carried_both_ways(echo):
    payload = b"GET /_ping HTTP/1.1\r\n\r\n" * 1000  # more than one chunk
    assert _round_trip(echo.path, payload) == payload
    assert echo.url == f"unix://{echo.path}"


def test_the_socket_is_private(echo):
    assert stat.S_IMODE(echo.dir.stat().st_mode) == 0o700


def test_connections_side_by_side(echo):
    from concurrent.futures import ThreadPoolExecutor

    payloads = [f"conn {i}\n".encode() * 200 for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(lambda p: _round_trip(echo.path, p), payloads)) == payloads


def test_what_ssh_said_is_kept_for_the_error():
    b = Bridge("ssh://deploy@example.invalid")
    b.target = Carrier(
        ("sh", "-c", "echo 'deploy@example.invalid: Permission denied.' >&2; exit 255")
    )
    try:
        assert _round_trip(b.path, b"x") == b""
        deadline = time.monotonic() + 5
        while not b.last_error() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert b.last_error() == "deploy@example.invalid: Permission denied."
    finally:
        b.close()


def test_one_bridge_per_endpoint_and_closed_leaves_nothing():
    a = ssh_bridge.bridge("ssh://deploy@one.invalid")
    assert ssh_bridge.bridge("ssh://deploy@one.invalid") is a
    assert ssh_bridge.bridge("ssh://deploy@two.invalid") is not a
    ssh_bridge._close_all()
    assert not a.dir.exists()
