"""The simulated fleet as data (pure): what `./inv fleet up` creates, where each
piece lives, and the config files it writes.

One host is a dockerd in a network namespace of its own (own data root, exec root,
socket, `--iptables=false`: the machine's docker0 and main engine are never
touched), an sshd on 127.0.0.1 whose sessions reach that engine, and forwarders:
the registry's port carried into the namespace (hosts pull from the registry like
real machines), and a port of this machine carried to the proxy port inside the
namespace (every host publishes the same proxy port, as real machines do). A front
HAProxy on 127.0.0.1 balances across the hosts' proxies.

The state (every pid with the marker that proves it is still ours) is one JSON file
in the fleet's home, so `down` and `status` of a later command find everything.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from release.base.errors import UsageError

MAX_HOSTS = 9
STATE_FILE = "fleet.json"
PREFIX = "ecotrack-fleet"


@dataclass(frozen=True)
class FleetSpec:
    """What to create: checked eagerly, one line per mistake."""

    hosts: int
    registry_port: int
    proxy_port: int = 8080  # the proxy's port inside every host
    front_port: int = 8090  # the front HAProxy on this machine
    batch_size: int = 1
    daemon_config: dict[str, dict] = field(default_factory=dict)  # host → daemon.json

    def __post_init__(self):
        if not 1 <= self.hosts <= MAX_HOSTS:
            raise UsageError(f"--count must be 1 to {MAX_HOSTS} (got {self.hosts})")
        for name in ("registry_port", "proxy_port", "front_port"):
            port = getattr(self, name)
            if not 0 < port < 65536:
                raise UsageError(f"{name.replace('_', '-')} {port} is not a port")
        if self.batch_size < 1:
            raise UsageError(f"batch size must be at least 1 (got {self.batch_size})")


@dataclass
class Pid:
    """A process we started: its pid and a string its command line must contain
    (a recycled pid is never mistaken for ours)."""

    pid: int = 0
    marker: str = ""


@dataclass
class SimHost:
    name: str
    netns: str  # `ip netns` name
    root: str  # configs and logs
    run_dir: str  # socket and exec root (short paths: unix sockets live there)
    data_root: str
    ssh_port: int = 0
    local_proxy_port: int = 0  # this machine's port for the host's proxy
    dockerd: Pid = field(default_factory=Pid)
    sshd: Pid = field(default_factory=Pid)
    forwarders: list[Pid] = field(default_factory=list)

    @property
    def socket(self) -> str:
        return f"unix://{self.run_dir}/docker.sock"

    @property
    def netns_path(self) -> str:
        return f"/run/netns/{self.netns}"

    @property
    def endpoint(self) -> str:
        return f"ssh://{getpass.getuser()}@127.0.0.1:{self.ssh_port}"


@dataclass
class FleetState:
    run: str
    home: str
    registry_port: int
    proxy_port: int
    front_port: int
    batch_size: int
    hosts: list[SimHost]
    front: Pid = field(default_factory=Pid)

    @property
    def bin_dir(self) -> Path:
        """The `ssh` wrapper that adds the fleet's client config (key, known hosts)."""
        return Path(self.home) / "bin"

    @property
    def run_dir(self) -> Path:
        return Path(f"/run/{PREFIX}-{self.run}")

    @property
    def hosts_file(self) -> Path:
        return Path(self.home) / "hosts.yaml"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "FleetState":
        raw = json.loads(text)
        hosts = []
        for h in raw.pop("hosts"):
            h["dockerd"], h["sshd"] = Pid(**h["dockerd"]), Pid(**h["sshd"])
            h["forwarders"] = [Pid(**f) for f in h["forwarders"]]
            hosts.append(SimHost(**h))
        front = Pid(**raw.pop("front"))
        return cls(**raw, hosts=hosts, front=front)


def plan(spec: FleetSpec, home: Path, run: str) -> FleetState:
    """The state of a fleet about to be created (ports filled in as it starts)."""
    hosts = [
        SimHost(
            name=f"host-{i}",
            netns=f"{PREFIX}-{run}-{i}",
            root=str(home / f"host-{i}"),
            run_dir=f"/run/{PREFIX}-{run}/host-{i}",  # FleetState.run_dir
            data_root=f"/var/lib/{PREFIX}-{run}-{i}",
        )
        for i in range(1, spec.hosts + 1)
    ]
    return FleetState(
        run=run,
        home=str(home),
        registry_port=spec.registry_port,
        proxy_port=spec.proxy_port,
        front_port=spec.front_port,
        batch_size=spec.batch_size,
        hosts=hosts,
    )


def sshd_config(home: Path, root: Path, docker_host: str = "") -> str:
    """An sshd with `home`'s keys; with docker_host, its sessions get DOCKER_HOST."""
    return "\n".join(
        [
            f"HostKey {home / 'host_key'}",
            f"AuthorizedKeysFile {home / 'authorized_keys'}",
            f"PidFile {root / 'sshd.pid'}",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "LogLevel INFO",
            "MaxSessions 100",
            "MaxStartups 100",
        ]
        # The session's docker CLI (`docker system dial-stdio`) talks to this
        # host's engine, not the machine's main one.
        + ([f"SetEnv DOCKER_HOST={docker_host}"] if docker_host else [])
        + [""]
    )


def known_hosts(host_key_pub: str, ports: list[int]) -> str:
    kind, key = host_key_pub.split()[:2]
    return "".join(f"[127.0.0.1]:{p} {kind} {key}\n" for p in ports)


def ssh_client_config(home: Path, control_dir: Path) -> str:
    """The client side; control sockets in a short path (a unix socket's path must
    stay under 108 bytes, and state dirs can be deep)."""
    return "\n".join(
        [
            "Host 127.0.0.1",
            f"  IdentityFile {home / 'client_key'}",
            "  IdentitiesOnly yes",
            f"  UserKnownHostsFile {home / 'known_hosts'}",
            "  StrictHostKeyChecking yes",
            "  BatchMode yes",
            # One authenticated connection for all the docker calls, as Docker's
            # docs advise for ssh:// hosts.
            "  ControlMaster auto",
            f"  ControlPath {control_dir / 'cm-%C'}",
            "  ControlPersist 60",
            "",
        ]
    )


def ssh_wrapper(home: Path, ssh: str = "/usr/bin/ssh") -> str:
    """Docker's ssh:// transport and Compose run `ssh` from PATH: this one adds the
    fleet's config, so neither ~/.ssh nor the system's config is touched."""
    return f'#!/bin/sh\nexec {ssh} -F {home / "ssh_config"} "$@"\n'


def front_config(state: FleetState) -> str:
    """The front HAProxy, behaving as a cloud load balancer does: a request that
    reached a host is never sent again, so a host answering 5xx, closing without an
    answer or timing out is seen by the client (and by the tests' load). Only a
    connection that could not be opened is tried on another host (`retry-on
    conn-failure`, `option redispatch`): that request never reached any host, so
    nothing is hidden or sent twice, and a host that went down between two health
    checks (every 500 ms) is skipped, as a cloud balancer skips an unreachable
    target."""
    servers = "\n".join(
        f"    server {h.name} 127.0.0.1:{h.local_proxy_port} check inter 500ms "
        "fall 2 rise 2"
        for h in state.hosts
    )
    return f"""global
    maxconn 512
defaults
    mode http
    timeout connect 3s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch
    retry-on conn-failure
frontend front
    bind 127.0.0.1:{state.front_port}
    default_backend hosts
backend hosts
    balance roundrobin
{servers}
"""


def hosts_yaml(state: FleetState, batch_size: int | None = None) -> str:
    """The fleet as targets/fleet/hosts.py reads it (`./inv deploy --hosts-file
    FILE`)."""
    lines = ["hosts:"]
    for i, h in enumerate(state.hosts):
        lines += [
            f"  - name: {h.name}",
            f"    endpoint: {h.endpoint}",
            f"    labels: {{zone: z{i + 1}}}",
        ]
    lines.append(f"batch_size: {batch_size or state.batch_size}")
    lines.append(f"front_proxy: 127.0.0.1:{state.front_port}")
    return "\n".join(lines) + "\n"
