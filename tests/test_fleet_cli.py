"""`./inv fleet up|status|down`: the simulated fleet as people use it, in a state
dir of the test's own (XDG_STATE_HOME), on a free front port.

Real all the way: the namespaces, engines, sshds and the front HAProxy it reports
exist and answer (an engine is reached through its sshd with the ssh the fleet
provides); `up` twice keeps the fleet; `down` leaves no namespace, process or state
behind, and twice is fine. Bad input is one line and a non-zero exit.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from release.targets import environment
from testing import commands
from testing.fleet import Fleet, free_port

ROOT = Path(__file__).resolve().parents[1]


def inv(env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`./inv fleet ARGS` with the test's environment."""
    return commands.inv("fleet", *args, env=env, timeout=timeout)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@pytest.fixture
def env(tmp_path):
    why = Fleet.available()
    if why:
        pytest.skip(f"no simulated fleet here: {why}")
    e = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    yield e
    inv(e, "down")  # whatever the test left behind


def test_up_twice_status_down_twice(env, tmp_path):
    home = tmp_path / "state" / "ecotrack" / "fleet"
    front = str(free_port())
    up = inv(env, "up", "--count", "2", "--front-port", front)
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    state = json.loads((home / "fleet.json").read_text())
    hosts = state["hosts"]
    assert [h["name"] for h in hosts] == ["host-1", "host-2"]
    assert f"front HAProxy 127.0.0.1:{front}" in up.stdout
    assert str(home / "hosts.yaml") in up.stdout
    for h in hosts:
        assert h["netns"] in up.stdout and Path(f"/run/netns/{h['netns']}").exists()
    pids = [state["front"]["pid"]] + [
        p["pid"] for h in hosts for p in [h["dockerd"], h["sshd"], *h["forwarders"]]
    ]
    assert len(pids) == 1 + 2 * 4 and all(alive(p) for p in pids)

    # the hosts file is the deploy's own format; each engine answers through sshd
    fleet = environment.load(home / "hosts.yaml")
    assert [h.name for h in fleet.hosts] == ["host-1", "host-2"]
    assert fleet.front_proxy == f"127.0.0.1:{front}"
    path = f"{home / 'bin'}:{env['PATH']}"
    for h, sim in zip(fleet.hosts, hosts):
        r = subprocess.run(
            ["docker", "-H", h.endpoint, "info", "--format", "{{.DockerRootDir}}"],
            env={**env, "PATH": path},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == sim["data_root"]  # its own engine, not the main one
        assert "Accepted publickey" in (Path(sim["root"]) / "sshd.log").read_text()

    again = inv(env, "up", "--count", "2", "--front-port", front)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "already up: kept as it is" in again.stdout
    assert json.loads((home / "fleet.json").read_text())["run"] == state["run"]
    other_size = inv(env, "up", "--count", "3", "--front-port", front)
    assert other_size.returncode == 2
    assert other_size.stderr.strip().splitlines() == [
        f"error: a fleet of 2 hosts is up ({home}): run ./inv fleet down first"
    ]

    status = inv(env, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.count("(up)") == 2 * 2 + 1  # ssh and engine per host, front

    down = inv(env, "down")
    assert down.returncode == 0, down.stderr[-2000:]
    assert not home.exists()
    for h in hosts:
        assert not Path(f"/run/netns/{h['netns']}").exists()
        assert not Path(h["data_root"]).exists()
    assert not [p for p in pids if alive(p)]
    twice = inv(env, "down")
    assert twice.returncode == 0 and "nothing to remove" in twice.stdout
    after = inv(env, "status")
    assert after.returncode == 5 and "no simulated fleet" in after.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["up", "--count", "0"], "error: --count must be 1 to 9 (got 0)"),
        (
            ["up", "--count", "2", "--front-port", "70000"],
            "error: front-port 70000 " "is not a port",
        ),
        (
            ["sideways"],
            "error: unknown fleet action 'sideways' (known: up, down, " "status)",
        ),
    ],
)
def test_bad_input_is_one_line_and_nonzero(env, tmp_path, args, message):
    r = inv(env, *args, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [message]
    assert not (tmp_path / "state" / "ecotrack" / "fleet").exists()
