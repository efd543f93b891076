"""Deploying to a "remote" Docker host over real SSH: Docker's ssh:// transport.

The test starts Debian's sshd on 127.0.0.1 (a free port, its own host key, config,
authorized key and known_hosts, all in a temp dir) and puts a `ssh` wrapper first on
PATH that adds `-F <that config>`, so the docker SDK and Compose — which both run the
system's `ssh` — go through it without touching ~/.ssh. Everything is removed after.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.rollout_support import Load, Releases, Stack, free_port  # noqa: E402

SSHD = "/usr/sbin/sshd"


@pytest.fixture(scope="module")
def sshd():
    if not (Path(SSHD).exists() and shutil.which("ssh-keygen")):
        pytest.skip("openssh-server is not installed (see .ci/run)")
    d = Path(tempfile.mkdtemp(prefix="ecotrack-ssh-", dir="/tmp"))
    for name in ("host_key", "client_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)],
            check=True,
        )
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    os.chmod(d / "authorized_keys", 0o600)
    port = free_port()
    (d / "sshd_config").write_text(
        "\n".join(
            [
                f"HostKey {d / 'host_key'}",
                f"AuthorizedKeysFile {d / 'authorized_keys'}",
                f"PidFile {d / 'sshd.pid'}",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "LogLevel INFO",
                "",
            ]
        )
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    log = open(d / "sshd.log", "ab")
    proc = subprocess.Popen(
        [
            SSHD,
            "-D",
            "-e",
            "-f",
            str(d / "sshd_config"),
            "-p",
            str(port),
            "-o",
            "ListenAddress=127.0.0.1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    host_pub = (d / "host_key.pub").read_text().split()
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    (d / "ssh_config").write_text(
        "\n".join(
            [
                "Host 127.0.0.1",
                f"  IdentityFile {d / 'client_key'}",
                "  IdentitiesOnly yes",
                f"  UserKnownHostsFile {d / 'known_hosts'}",
                "  StrictHostKeyChecking yes",
                "  BatchMode yes",
                # One authenticated connection for all the docker calls, as Docker's
                # docs advise for ssh:// hosts (README: "Remote hosts").
                "  ControlMaster auto",
                f"  ControlPath {d / 'cm-%C'}",
                "  ControlPersist 60",
                "",
            ]
        )
    )
    (d / "bin").mkdir()
    wrapper = d / "bin" / "ssh"
    wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {d / "ssh_config"} "$@"\n')
    wrapper.chmod(0o755)
    old_path = os.environ["PATH"]
    os.environ["PATH"] = f"{d / 'bin'}:{old_path}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        yield SimpleNamespace(
            host=f"ssh://{getpass.getuser()}@127.0.0.1:{port}", log=d / "sshd.log"
        )
    finally:
        subprocess.run(
            [str(wrapper), "-O", "exit", "-p", str(port), "127.0.0.1"],
            capture_output=True,
            timeout=20,
        )
        os.environ["PATH"] = old_path
        proc.terminate()
        proc.wait(timeout=20)
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def releases(local_registry, service_images):
    r = Releases(local_registry, service_images)
    yield r
    r.cleanup()


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
