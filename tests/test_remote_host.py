"""Deploying to a "remote" Docker host over real SSH: Docker's ssh:// transport.

The test starts Debian's sshd on 127.0.0.1 (a free port, its own host key, config,
authorized key and known_hosts, all in a temp dir: release/adapters/sshd.py, the
simulated fleet's) and puts a `ssh` wrapper first on PATH that adds `-F <that
config>`, so the docker SDK and Compose — which both run the system's `ssh` — go
through it without touching ~/.ssh. Everything is removed after.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from release.adapters import daemons
from release.adapters import sshd as ssh_server
from release.machine import fleet as fleet_sim
from testing.rollout import Load, Stack, free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sshd():
    why = ssh_server.available()
    if why:
        pytest.skip(f"{why} (see .ci/run)")
    d = Path(tempfile.mkdtemp(prefix="ecotrack-ssh-", dir="/tmp"))
    port = free_port()
    old_path = os.environ["PATH"]
    pid = 0
    try:
        ssh_server.make_keys(d)
        pid = ssh_server.start(fleet_sim.sshd_config(d, d), d, port)
        os.environ["PATH"] = f"{ssh_server.write_client(d, [port])}:{old_path}"
        yield SimpleNamespace(
            host=f"ssh://{getpass.getuser()}@127.0.0.1:{port}", log=d / "sshd.log"
        )
    finally:
        ssh_server.close_master(d, port)
        os.environ["PATH"] = old_path
        daemons.stop(pid, str(d / "sshd_config"), 20)
        shutil.rmtree(d, ignore_errors=True)


def test_deploy_and_roll_over_ssh(sshd, releases, state_home, tmp_path):
    # Plain `docker` over the same transport first: the setup itself works.
    probe = subprocess.run(
        ["docker", "-H", sshd.host, "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        text=True,
    )
    assert probe.returncode == 0, probe.stderr
    stack = Stack(tmp_path, host=sshd.host)
    v1 = releases.manifest(recycling=releases.entry("recycling", "1.0.0"))
    v2 = releases.manifest(recycling=releases.entry("recycling", "1.1.0"))
    try:
        r = stack.deploy_ok(v1)
        assert f"({stack.project})" in r.stdout
        assert stack.get("/recycling/guidelines")[0] == 200
        with Load(stack.port, "/recycling/guidelines", rate=40) as load:
            r = stack.deploy_ok(v2)
        assert load.failures == [] and len(load.results) > 50
        assert "switch_traffic" in r.stdout and "retire_old" in r.stdout
        assert sorted(c.version for c in stack.containers("recycling")) == [
            "1.1.0",
            "1.1.0",
        ]
        # DOCKER_HOST works as well as --host; the lock is on the remote engine.
        dry = subprocess.run(
            [
                str(ROOT / "inv"),
                "deploy",
                "--dry-run",
                "--project",
                stack.project,
                "--manifest",
                str(stack.write(v2)),
                "--port",
                str(stack.port),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "DOCKER_HOST": sshd.host},
        )
        assert dry.returncode == 0 and "in sync" in dry.stdout, dry.stdout + dry.stderr
        status = stack.inv(
            "lock", "status", "--project", stack.project, "--host", sshd.host
        )
        assert status.returncode == 0 and "free" in status.stdout
        log = sshd.log.read_text()
        assert "Accepted publickey for" in log  # it really went through sshd
    finally:
        stack.host = None  # the same engine, reached directly, for the cleanup
        stack.down()
