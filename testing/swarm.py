"""A single-node Swarm for the Swarm tests, never on the machine's main engine.

It is one host of testing/fleet.py's simulated fleet (a dockerd in a network
namespace of its own, own data root, `--iptables=false`, reached through a real
sshd; the run's registry forwarded into the namespace, and a port of this machine
forwarded to the proxy port inside it) on which `docker swarm init` runs. Inside
the namespace there is only `lo`, so the node advertises 127.0.0.1: one node, no
VXLAN between machines. The main engine and docker0 are never touched; everything
is removed on exit (swarm left, dockerd stopped, namespace and data root deleted).
"""

from __future__ import annotations

from pathlib import Path

from testing.fleet import Fleet, FleetHost


class SwarmNode:
    """`with SwarmNode(registry_port) as node:` a Swarm manager at `node.endpoint`,
    its proxy's published port reachable at 127.0.0.1:`node.proxy_port`."""

    def __init__(self, registry_port: int):
        self.fleet = Fleet(1, registry_port)
        self.host: FleetHost | None = None

    @staticmethod
    def available() -> str:
        return Fleet.available()

    def __enter__(self) -> "SwarmNode":
        self.fleet.__enter__()
        try:
            self.host = self.fleet.hosts[0]
            self.host.docker("swarm", "init", "--advertise-addr", "127.0.0.1")
        except BaseException:
            self.fleet.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.host is not None:
            self.host.docker("swarm", "leave", "--force", check=False)
        self.fleet.__exit__()

    @property
    def endpoint(self) -> str:
        return self.host.endpoint  # ssh://…: the docker CLI's and SDK's real path

    @property
    def socket(self) -> str:
        return self.host.socket

    @property
    def proxy_port(self) -> int:
        """This machine's port for the proxy's host-mode port on the node."""
        return self.host.proxy_port

    def docker(self, *args: str, check: bool = True) -> str:
        return self.host.docker(*args, check=check)

    def hosts_yaml(self, path: Path, monitor: int = 5) -> Path:
        path.write_text(
            "target: swarm\n"
            f"manager: {self.endpoint}\n"
            f"proxy_port: {self.fleet.proxy_port}\n"
            f"monitor: {monitor}\n"
        )
        return path
