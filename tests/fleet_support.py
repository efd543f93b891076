"""A simulated fleet for the fleet tests: N Docker engines, each in a network
namespace of its own, each reached through a real sshd, and a front HAProxy on
127.0.0.1 balancing across the hosts' proxies.

Per host:
- `ip netns add ecotrack-fleet-<run>-<i>` and a dockerd entered into it only
  (`nsenter --net`), with its own data root, exec root, pidfile, config and socket,
  `--iptables=false`: the machine's main engine, docker0 and other people's
  bridges are never touched;
- a forwarder carrying the run's registry port into the namespace (the engine pulls
  the pinned images from the run's registry on the host, as a real host pulls from
  its registry), and one carrying a free port of this machine to the host's proxy
  port inside the namespace (every host publishes the same proxy port, as real
  machines do);
- an sshd on 127.0.0.1:<free port> whose sessions get DOCKER_HOST pointing at that
  engine's socket (sshd_config `SetEnv`), so `ssh://root@127.0.0.1:<port>` reaches
  that engine through Docker's real ssh:// transport.

A `ssh` wrapper first on PATH adds the fleet's client config (throwaway key, known
hosts, ControlMaster), so neither ~/.ssh nor the system's config is touched.
Everything is removed on exit: processes by their pid, namespaces, data roots.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

SSHD = "/usr/sbin/sshd"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"

FORWARDER = r"""
import ctypes, os, socket, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
lport, cport = int(sys.argv[1]), int(sys.argv[2])
listen_in, connect_in = sys.argv[3], sys.argv[4]
def enter(path):
    fd = os.open(path, os.O_RDONLY)
    if libc.setns(fd, 0x40000000) != 0:
        raise OSError(ctypes.get_errno(), "setns " + path)
    os.close(fd)
here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
enter(listen_in)
lst = socket.socket()
lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lst.bind(("127.0.0.1", lport))
lst.listen(128)
libc.setns(here, 0x40000000)
def pump(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
def serve(conn):
    enter(connect_in)
    try:
        up = socket.create_connection(("127.0.0.1", cport), timeout=10)
    except OSError:
        conn.close()
        return
    up.settimeout(None)
    threading.Thread(target=pump, args=(up, conn), daemon=True).start()
    pump(conn, up)
print("ready", flush=True)
while True:
    conn, _ = lst.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answers on 127.0.0.1:{port}")


def _stop(proc: subprocess.Popen | None, timeout: float = 60) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class Forwarder:
    """127.0.0.1:lport in namespace `listen_in` → 127.0.0.1:cport in `connect_in`."""

    def __init__(self, lport: int, cport: int, listen_in: str, connect_in: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", FORWARDER, str(lport), str(cport)]
            + [listen_in, connect_in],
            stdout=subprocess.PIPE,
            text=True,
        )
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"forwarder {lport} → {cport} did not start")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


class FleetHost:
    """One simulated machine: a dockerd in its own network namespace, its sshd."""

    def __init__(self, fleet: "Fleet", index: int):
        self.fleet = fleet
        self.name = f"host-{index + 1}"
        self.ns = f"ecotrack-fleet-{fleet.run}-{index + 1}"
        self.netns = f"/run/netns/{self.ns}"
        self.root = fleet.dir / self.name
        self.root.mkdir()
        self.data = Path(f"/var/lib/ecotrack-fleet-{fleet.run}-{index + 1}")
        self.socket = f"unix://{self.root / 'docker.sock'}"
        self.port = 0  # sshd
        self.proxy_port = free_port()  # this machine's port for the host's proxy
        self.dockerd = None
        self.sshd = None
        self.forwarders: list[Forwarder] = []
        self.ns_made = False

    @property
    def endpoint(self) -> str:
        return f"ssh://{getpass.getuser()}@127.0.0.1:{self.port}"

    def start_engine(self) -> None:
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        self.ns_made = True
        subprocess.run(
            ["ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up"],
            check=True,
        )
        config = self.fleet.daemon_config.get(self.name, {})
        (self.root / "daemon.json").write_text(json.dumps(config) + "\n")
        log = open(self.root / "dockerd.log", "ab")
        self.dockerd = subprocess.Popen(
            [
                "nsenter",
                f"--net={self.netns}",
                "dockerd",
                "--config-file",
                str(self.root / "daemon.json"),
                "--data-root",
                str(self.data),
                "--exec-root",
                str(self.root / "exec"),
                "--pidfile",
                str(self.root / "docker.pid"),
                "--host",
                self.socket,
                "--iptables=false",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        reg = self.fleet.registry_port
        self.forwarders.append(Forwarder(reg, reg, self.netns, self.fleet.host_ns))
        self.forwarders.append(
            Forwarder(
                self.proxy_port, self.fleet.proxy_port, self.fleet.host_ns, self.netns
            )
        )

    def wait_engine(self) -> None:
        deadline = time.monotonic() + 90
        probe = [
            "docker",
            "-H",
            self.socket,
            "version",
            "--format",
            "{{.Server.Version}}",
        ]
        while time.monotonic() < deadline:
            if subprocess.run(probe, capture_output=True).returncode == 0:
                return
            time.sleep(0.5)
        log = (self.root / "dockerd.log").read_text()[-2000:]
        raise RuntimeError(f"{self.name}'s dockerd did not start:\n{log}")

    def start_sshd(self) -> None:
        d = self.fleet.dir
        self.port = free_port()
        config = self.root / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"HostKey {d / 'host_key'}",
                    f"AuthorizedKeysFile {d / 'authorized_keys'}",
                    f"PidFile {self.root / 'sshd.pid'}",
                    "PermitRootLogin prohibit-password",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "LogLevel INFO",
                    "MaxSessions 100",
                    "MaxStartups 100",
                    # The session's docker CLI (`docker system dial-stdio`) talks to
                    # this host's engine, not the machine's main one.
                    f"SetEnv DOCKER_HOST={self.socket}",
                    "",
                ]
            )
        )
        log = open(self.root / "sshd.log", "ab")
        self.sshd = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config), "-p", str(self.port)]
            + ["-o", "ListenAddress=127.0.0.1"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait_port(self.port)

    def docker(self, *args: str, check: bool = True) -> str:
        r = subprocess.run(
            ["docker", "-H", self.socket, *args], capture_output=True, text=True
        )
        if check and r.returncode != 0:
            raise RuntimeError(f"{self.name}: docker {args[:2]}: {r.stderr.strip()}")
        return r.stdout.strip()

    def stop(self) -> None:
        if self.port:
            subprocess.run(
                [str(self.fleet.dir / "bin" / "ssh"), "-O", "exit"]
                + ["-p", str(self.port), "127.0.0.1"],
                capture_output=True,
                timeout=20,
            )
        _stop(self.sshd, 20)
        if self.dockerd is not None and self.dockerd.poll() is None:
            # Containers first, so dockerd exits quickly and leaves no shims.
            ids = self.docker("ps", "-aq", check=False).split()
            if ids:
                self.docker("rm", "-f", *ids, check=False)
        _stop(self.dockerd, 90)
        for f in self.forwarders:
            f.close()
        if self.ns_made:
            subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        shutil.rmtree(self.data, ignore_errors=True)


class Fleet:
    """`with Fleet(3, registry_port) as fleet:` N hosts, their sshds, a front HAProxy
    on 127.0.0.1:fleet.front_port, and the hosts.yaml that describes them."""

    def __init__(
        self,
        n: int,
        registry_port: int,
        batch_size: int = 1,
        daemon_config: dict[str, dict] | None = None,
    ):
        self.n = n
        self.daemon_config = dict(daemon_config or {})  # host name → daemon.json
        self.registry_port = registry_port
        self.batch_size = batch_size
        self.run = uuid.uuid4().hex[:6]
        self.dir = Path(tempfile.mkdtemp(prefix="ecotrack-fleet-", dir="/tmp"))
        self.host_ns = f"/proc/{os.getpid()}/ns/net"
        self.proxy_port = free_port()  # the proxy's port inside every host
        self.front_port = free_port()
        self.hosts: list[FleetHost] = []
        self.front = None
        self._old_path = None

    @staticmethod
    def available() -> str:
        """Why a fleet cannot run here ("" when it can)."""
        for tool in ("dockerd", "ip", "nsenter", "ssh-keygen", "ssh"):
            if not shutil.which(tool):
                return f"no {tool}"
        if not Path(SSHD).exists():
            return "openssh-server is not installed"
        if not Path(HAPROXY).exists():
            return "haproxy is not installed"
        return ""

    def _keys(self) -> None:
        d = self.dir
        for name in ("host_key", "client_key"):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)],
                check=True,
            )
        (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
        os.chmod(d / "authorized_keys", 0o600)
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)

    def _client_config(self) -> None:
        d = self.dir
        kind, key = (d / "host_key.pub").read_text().split()[:2]
        (d / "known_hosts").write_text(
            "".join(f"[127.0.0.1]:{h.port} {kind} {key}\n" for h in self.hosts)
        )
        (d / "ssh_config").write_text(
            "\n".join(
                [
                    "Host 127.0.0.1",
                    f"  IdentityFile {d / 'client_key'}",
                    "  IdentitiesOnly yes",
                    f"  UserKnownHostsFile {d / 'known_hosts'}",
                    "  StrictHostKeyChecking yes",
                    "  BatchMode yes",
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
        self._old_path = os.environ["PATH"]
        os.environ["PATH"] = f"{d / 'bin'}:{self._old_path}"

    def _front(self) -> None:
        cfg = self.dir / "front.cfg"
        servers = "\n".join(
            f"    server {h.name} 127.0.0.1:{h.proxy_port} check inter 500ms "
            "fall 2 rise 2"
            for h in self.hosts
        )
        cfg.write_text(f"""global
    maxconn 512
defaults
    mode http
    timeout connect 3s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch
    retry-on conn-failure empty-response response-timeout 502 503 504
frontend front
    bind 127.0.0.1:{self.front_port}
    default_backend hosts
backend hosts
    balance roundrobin
{servers}
""")
        log = open(self.dir / "front.log", "ab")
        self.front = subprocess.Popen(
            [HAPROXY, "-db", "-f", str(cfg)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait_port(self.front_port)

    def hosts_yaml(self, path: Path | None = None, batch_size: int | None = None):
        path = path or self.dir / "hosts.yaml"
        lines = ["hosts:"]
        for i, h in enumerate(self.hosts):
            lines += [
                f"  - name: {h.name}",
                f"    endpoint: {h.endpoint}",
                f"    labels: {{zone: z{i + 1}}}",
            ]
        lines.append(f"batch_size: {batch_size or self.batch_size}")
        lines.append(f"front_proxy: 127.0.0.1:{self.front_port}")
        path.write_text("\n".join(lines) + "\n")
        return path

    def __enter__(self) -> "Fleet":
        try:
            self._keys()
            self.hosts = [FleetHost(self, i) for i in range(self.n)]
            for h in self.hosts:
                h.start_engine()
            for h in self.hosts:
                h.wait_engine()
                h.start_sshd()
            self._client_config()
            self._front()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        _stop(self.front, 10)
        for h in self.hosts:
            h.stop()
        if self._old_path is not None:
            os.environ["PATH"] = self._old_path
        shutil.rmtree(self.dir, ignore_errors=True)
