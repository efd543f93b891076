"""The simulated fleet for tests: a thin wrapper over the release tooling's
(build-support/release/machine/fleet.py, devenv/fleet_run.py; `./inv fleet up` is the
same machinery) that keeps the names tests import.

`with Fleet(3, registry_port) as fleet:` N Docker engines, each in a network
namespace of its own with its own data root, each reached through a real sshd, a
front HAProxy on 127.0.0.1:fleet.front_port, and the hosts.yaml that describes them.
The fleet lives in a temp dir of its own (never the user's `./inv fleet` state), on
free ports; while it is up an `ssh` wrapper with the fleet's throwaway key is first
on PATH (Docker's ssh:// transport runs `ssh` from PATH). Everything is removed on
exit: processes by pid, namespaces, data roots.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from release.adapters import netns_engine, netns_forward, sshd
from release.adapters.daemons import free_port  # noqa: F401 (re-exported)
from release.devenv import fleet_run as fleet_sim_run
from release.machine.fleet import FleetSpec, SimHost

ROOT = Path(__file__).resolve().parents[1]

SSHD = sshd.SSHD
HAPROXY = fleet_sim_run.HAPROXY


class Forwarder:
    """127.0.0.1:lport in namespace `listen_in` → 127.0.0.1:cport in `connect_in`
    (a namespace path, or "-": this machine's), stopped with close()."""

    def __init__(self, lport: int, cport: int, listen_in: str, connect_in: str):
        log = Path(tempfile.gettempdir()) / f"ecotrack-forward-{lport}.log"
        self.proc = netns_forward.start(lport, cport, listen_in, connect_in, log)
        self.log = log

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.log.unlink(missing_ok=True)


class FleetHost:
    """One simulated machine: a dockerd in its own network namespace, its sshd."""

    def __init__(self, fleet: "Fleet", host: SimHost):
        self.fleet = fleet
        self.sim = host
        self.name = host.name
        self.ns = host.netns
        self.netns = host.netns_path
        self.root = Path(host.root)  # dockerd.log, sshd.log, daemon.json
        self.data = Path(host.data_root)
        self.socket = host.socket
        self.port = host.ssh_port  # sshd
        self.proxy_port = host.local_proxy_port  # this machine's port for the proxy

    @property
    def endpoint(self) -> str:
        return self.sim.endpoint

    def docker(self, *args: str, check: bool = True) -> str:
        return netns_engine.docker(self.socket, *args, check=check)


class Fleet:
    """`with Fleet(3, registry_port) as fleet:` see the module's docstring."""

    def __init__(
        self,
        n: int,
        registry_port: int,
        batch_size: int = 1,
        daemon_config: dict[str, dict] | None = None,
    ):
        self.n = n
        self.registry_port = registry_port
        self.batch_size = batch_size
        self.daemon_config = dict(daemon_config or {})  # host name → daemon.json
        self.dir = Path(tempfile.mkdtemp(prefix="ecotrack-fleet-", dir="/tmp"))
        self.host_ns = netns_forward.OWN  # for Forwarder: this machine's namespace
        self.proxy_port = free_port()  # the proxy's port inside every host
        self.front_port = free_port()
        self.hosts: list[FleetHost] = []
        self.state = None
        self._old_path = None

    @staticmethod
    def available() -> str:
        """Why a fleet cannot run here ("" when it can)."""
        return fleet_sim_run.available()

    @property
    def run(self) -> str:
        return self.state.run if self.state else ""

    def hosts_yaml(self, path: Path | None = None, batch_size: int | None = None):
        from release.machine.fleet import hosts_yaml

        path = path or self.dir / "hosts.yaml"
        path.write_text(hosts_yaml(self.state, batch_size or self.batch_size))
        return path

    def __enter__(self) -> "Fleet":
        spec = FleetSpec(
            hosts=self.n,
            registry_port=self.registry_port,
            proxy_port=self.proxy_port,
            front_port=self.front_port,
            batch_size=self.batch_size,
            daemon_config=self.daemon_config,
        )
        self.state, _ = fleet_sim_run.up(spec, self.dir)
        self.hosts = [FleetHost(self, h) for h in self.state.hosts]
        self._old_path = os.environ["PATH"]
        os.environ["PATH"] = f"{self.state.bin_dir}:{self._old_path}"
        return self

    def __exit__(self, *exc) -> None:
        if self._old_path is not None:
            os.environ["PATH"] = self._old_path
        fleet_sim_run.down(self.dir)
