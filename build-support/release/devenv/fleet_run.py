"""Brings the simulated fleet (release/machine/fleet.py) up and down, and checks it.

Every piece is recorded in the fleet's state file as soon as it starts, so a failed
`up` (which tears down what it made) or a later `down` in another process finds it.
`up` is idempotent: a healthy fleet of the same size is kept as it is; a broken one
is removed and made again.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

from release.adapters import daemons, netns_engine, netns_forward, sshd
from release.base.atomic import write_atomic
from release.base.errors import UsageError
from release.base.layout import state_dir
from release.machine import fleet as fleet_sim
from release.machine.fleet import FleetSpec, FleetState, Pid

HAPROXY = "/usr/sbin/haproxy"


def default_home() -> Path:
    return state_dir() / "fleet"


def load(home: Path) -> FleetState | None:
    path = home / fleet_sim.STATE_FILE
    if not path.is_file():
        return None
    return FleetState.from_json(path.read_text())


def _save(state: FleetState) -> None:
    write_atomic(Path(state.home) / fleet_sim.STATE_FILE, state.to_json())


def available() -> str:
    """Why a fleet cannot run here ("" when it can)."""
    for tool in ("dockerd", "ip", "nsenter"):
        if not any(
            os.access(os.path.join(d, tool), os.X_OK)
            for d in os.environ.get("PATH", "").split(":")
        ):
            return f"no {tool}"
    if not Path(HAPROXY).exists():
        return "haproxy is not installed"
    return sshd.available()


def problems(state: FleetState) -> list[str]:
    """What is not running as recorded (empty: the fleet is healthy)."""
    out = []
    for h in state.hosts:
        if not netns_engine.netns_exists(h.netns):
            out.append(f"{h.name}: network namespace {h.netns} is gone")
        if not netns_engine.engine_answers(h.socket):
            out.append(f"{h.name}: its dockerd does not answer on {h.socket}")
        if not (
            daemons.alive(h.sshd.pid, h.sshd.marker) and daemons.answers(h.ssh_port)
        ):
            out.append(f"{h.name}: its sshd does not answer on port {h.ssh_port}")
        if len(h.forwarders) < 2 or not all(
            daemons.alive(f.pid, f.marker) for f in h.forwarders
        ):
            out.append(f"{h.name}: a port forwarder is not running")
    if not (daemons.alive(state.front.pid, state.front.marker)):
        out.append(f"the front HAProxy on port {state.front_port} is not running")
    return out


def up(
    spec: FleetSpec, home: Path, say: Callable[[str], None] = lambda _: None
) -> tuple[FleetState, bool]:
    """(the fleet, whether it was created now)."""
    old = load(home)
    if old is not None:
        if len(old.hosts) != spec.hosts:
            raise UsageError(
                f"a fleet of {len(old.hosts)} hosts is up ({home}): "
                "run ./inv fleet down first"
            )
        broken = problems(old)
        if not broken:
            return old, False
        say(f"the fleet in {home} is broken ({broken[0]}): making it again")
        down(home)
    if daemons.answers(spec.front_port):
        raise UsageError(
            f"port {spec.front_port} is in use on 127.0.0.1: pick another --front-port"
        )
    home.mkdir(parents=True, exist_ok=True)
    state = fleet_sim.plan(spec, home, uuid.uuid4().hex[:6])
    _save(state)
    try:
        _create(spec, state, say)
    except BaseException:
        say("failed: removing what was made")
        down(home)
        raise
    return state, True


def _create(spec: FleetSpec, state: FleetState, say) -> None:
    home = Path(state.home)
    sshd.make_keys(home)
    for h in state.hosts:
        say(f"{h.name}: network namespace {h.netns}, dockerd (data {h.data_root})")
        netns_engine.add_netns(h.netns)
        pid = netns_engine.start_dockerd(
            h.netns,
            Path(h.root),
            Path(h.run_dir),
            Path(h.data_root),
            spec.daemon_config.get(h.name, {}),
        )
        h.dockerd = Pid(pid, h.socket)
        _save(state)
        h.local_proxy_port = daemons.free_port()
        for lport, cport, listen_in, connect_in in (
            # the registry on this machine, as 127.0.0.1:<port> inside the host
            (state.registry_port, state.registry_port, h.netns_path, netns_forward.OWN),
            # the host's proxy port, as 127.0.0.1:<local port> on this machine
            (h.local_proxy_port, state.proxy_port, netns_forward.OWN, h.netns_path),
        ):
            proc = netns_forward.start(
                lport, cport, listen_in, connect_in, Path(h.root) / "forward.log"
            )
            h.forwarders.append(Pid(proc.pid, netns_forward.marker(lport, cport)))
            _save(state)
    for h in state.hosts:
        netns_engine.wait_engine(h.name, h.socket, Path(h.root) / "dockerd.log")
        h.ssh_port = daemons.free_port()
        say(f"{h.name}: engine up; sshd on 127.0.0.1:{h.ssh_port}")
        config = fleet_sim.sshd_config(home, Path(h.root), h.socket)
        pid = sshd.start(config, Path(h.root), h.ssh_port)
        h.sshd = Pid(pid, str(Path(h.root) / "sshd_config"))
        _save(state)
    sshd.write_client(home, [h.ssh_port for h in state.hosts], state.run_dir)
    say(f"front HAProxy on 127.0.0.1:{state.front_port}")
    cfg = home / "front.cfg"
    cfg.write_text(fleet_sim.front_config(state))
    front = daemons.spawn([HAPROXY, "-db", "-f", str(cfg)], home / "front.log")
    state.front = Pid(front.pid, str(cfg))
    _save(state)
    daemons.wait_port(state.front_port, "the front HAProxy", home / "front.log")
    state.hosts_file.write_text(fleet_sim.hosts_yaml(state))


def down(home: Path) -> FleetState | None:
    """Removes everything the state file names; None when there was no fleet."""
    state = load(home)
    if state is None:
        return None
    daemons.stop(state.front.pid, state.front.marker, 10)
    for h in state.hosts:
        if h.ssh_port:
            sshd.close_master(home, h.ssh_port)
        daemons.stop(h.sshd.pid, h.sshd.marker, 20)
        netns_engine.stop_engine(h.dockerd.pid, h.dockerd.marker)
        for f in h.forwarders:
            daemons.stop(f.pid, f.marker, 5)
        netns_engine.del_netns(h.netns)
        netns_engine.remove_dirs(Path(h.data_root), Path(h.run_dir))
    netns_engine.remove_dirs(state.run_dir, home)
    return state
