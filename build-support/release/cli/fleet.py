"""`./inv fleet up|down|status`: the simulated fleet (release/machine/fleet.py) for
people and the bench, kept in the state dir so later commands find it."""

from __future__ import annotations

from release.base import exit_codes
from release.adapters import daemons, machine, netns_engine
from release.adapters.registry_local import LocalRegistryConfig
from release.base import console
from release.base.errors import UsageError
from release.devenv import fleet_run as fleet_sim_run
from release.machine import bootstrap
from release.machine.fleet import FleetSpec, FleetState

ACTIONS = ("up", "down", "status")


def command(
    action: str,
    count: int,
    front_port: int,
    proxy_port: int,
    registry_port: int,
    batch_size: int,
    as_json: bool = False,
) -> int:
    if action not in ACTIONS:
        raise UsageError(
            f"unknown fleet action '{action}' (known: {', '.join(ACTIONS)})"
        )
    home = fleet_sim_run.default_home()
    if action == "down":
        state = fleet_sim_run.down(home)
        if state is None:
            console.info(f"no simulated fleet in {home}: nothing to remove")
        else:
            console.info(
                f"removed the fleet of {len(state.hosts)} hosts: namespaces "
                + ", ".join(h.netns for h in state.hosts)
                + f", their engines, sshds, forwarders, the front HAProxy and {home}"
            )
        return 0
    if action == "status":
        state = fleet_sim_run.load(home)
        if state is None:
            if as_json:
                console.json_result({"running": False, "home": str(home)})
            console.info(f"no simulated fleet in {home} (./inv fleet up --count N)")
            return exit_codes.NOT_RUNNING
        broken = fleet_sim_run.problems(state)
        if as_json:
            console.json_result(status_doc(state, broken))
        else:
            render(state, broken)
        return exit_codes.FAILURE if broken else exit_codes.OK
    spec = FleetSpec(
        hosts=int(count),
        registry_port=int(registry_port or LocalRegistryConfig.from_env().port),
        proxy_port=int(proxy_port),
        front_port=int(front_port),
        batch_size=int(batch_size),
    )
    machine.ensure(bootstrap.FLEET)
    why = fleet_sim_run.available()
    if why:
        raise UsageError(f"cannot simulate a fleet here: {why}")
    with console.step(f"simulated fleet of {spec.hosts} hosts"):
        state, created = fleet_sim_run.up(spec, home, console.detail)
    if not created:
        console.info(f"the fleet in {home} is already up: kept as it is")
    render(state, [])
    return 0


def status_doc(state: FleetState, broken: list[str]) -> dict:
    """`./inv fleet status --json`."""
    return {
        "running": True,
        "run": state.run,
        "hosts_file": str(state.hosts_file),
        "front_port": state.front_port,
        "proxy_port": state.proxy_port,
        "registry_port": state.registry_port,
        "hosts": [
            {
                "name": h.name,
                "netns": h.netns,
                "endpoint": h.endpoint,
                "engine_up": netns_engine.engine_answers(h.socket),
                "ssh_up": daemons.answers(h.ssh_port),
            }
            for h in state.hosts
        ],
        "problems": broken,
    }


def render(state: FleetState, broken: list[str]) -> None:
    rows = []
    for h in state.hosts:
        engine = "up" if netns_engine.engine_answers(h.socket) else "DOWN"
        ssh = "up" if daemons.answers(h.ssh_port) else "DOWN"
        rows.append(
            [
                h.name,
                h.netns,
                f"{h.endpoint} ({ssh})",
                f"{h.socket} ({engine})",
                f"127.0.0.1:{h.local_proxy_port} → :{state.proxy_port}",
            ]
        )
    front = "up" if daemons.answers(state.front_port) else "DOWN"
    console.table(
        f"simulated fleet {state.run}: front HAProxy 127.0.0.1:{state.front_port} "
        f"({front}), registry 127.0.0.1:{state.registry_port} inside every host",
        ["host", "network namespace", "ssh endpoint", "engine", "proxy"],
        rows,
    )
    for line in broken:
        console.note(line)
    console.detail(f"hosts file: {state.hosts_file}")
    console.detail("deploy to it (the first line: an ssh with the fleet's key):")
    console.detail(f"  export PATH={state.bin_dir}:$PATH")
    console.detail(
        f"  ./inv deploy --hosts-file {state.hosts_file} --port {state.proxy_port}"
    )
    console.detail(f"then: curl http://127.0.0.1:{state.front_port}/...")
