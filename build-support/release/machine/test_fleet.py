"""The simulated fleet as data: its spec's checks, its state file, its config files."""

from pathlib import Path

import pytest
import yaml

from release.base.errors import UsageError
from release.machine import fleet as fleet_sim
from release.machine.fleet import FleetSpec, FleetState, Pid
from release.targets.fleet import hosts as fleet


def state(n: int = 3) -> FleetState:
    s = fleet_sim.plan(FleetSpec(hosts=n, registry_port=5000), Path("/st"), "abc123")
    for i, h in enumerate(s.hosts):
        h.ssh_port, h.local_proxy_port = 2200 + i, 3300 + i
        h.dockerd = Pid(100 + i, h.socket)
        h.forwarders = [Pid(200 + i, "netns_forward.py 5000 5000 ")]
    s.front = Pid(99, "/st/front.cfg")
    return s


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hosts": 0}, "--count must be 1 to 9 (got 0)"),
        ({"hosts": 10}, "--count must be 1 to 9 (got 10)"),
        ({"hosts": 2, "front_port": 70000}, "front-port 70000 is not a port"),
        ({"hosts": 2, "batch_size": 0}, "batch size must be at least 1 (got 0)"),
    ],
)
def test_bad_specs_are_one_line(kwargs, message):
    with pytest.raises(UsageError) as e:
        FleetSpec(registry_port=5000, **kwargs)
    assert str(e.value) == message


def test_every_host_has_its_own_namespace_data_root_and_socket():
    s = state()
    assert [h.netns for h in s.hosts] == [
        f"ecotrack-fleet-abc123-{i}" for i in (1, 2, 3)
    ]
    assert len({h.data_root for h in s.hosts}) == len({h.socket for h in s.hosts}) == 3
    assert all(h.run_dir.startswith(str(s.run_dir)) for h in s.hosts)
    assert not any(
        "docker0" in h.netns or h.data_root == "/var/lib/docker" for h in s.hosts
    )


def test_state_survives_its_file():
    s = state()
    again = FleetState.from_json(s.to_json())
    assert again == s and again.hosts[1].dockerd == Pid(101, s.hosts[1].socket)


def test_hosts_yaml_is_the_deploys_format():
    s = state(2)
    parsed = fleet.parse(yaml.safe_load(fleet_sim.hosts_yaml(s, batch_size=2)))
    assert [h.name for h in parsed.hosts] == ["host-1", "host-2"]
    assert parsed.hosts[0].endpoint.endswith("@127.0.0.1:2200")
    assert parsed.batch_size == 2 and parsed.front_proxy == "127.0.0.1:8090"


def test_front_balances_over_every_hosts_forwarded_proxy_port():
    cfg = fleet_sim.front_config(state())
    assert "bind 127.0.0.1:8090" in cfg
    for port in (3300, 3301, 3302):
        assert f"127.0.0.1:{port} check" in cfg


def test_front_retries_only_connections_that_failed_like_a_cloud_balancer():
    """A host's 5xx, empty response or timeout reaches the client: never retried."""
    cfg = fleet_sim.front_config(state())
    retry_on = [line.split()[1:] for line in cfg.splitlines() if "retry-on" in line]
    assert retry_on == [["conn-failure"]], retry_on


def test_each_sshd_session_reaches_only_its_hosts_engine():
    h = state().hosts[1]
    cfg = fleet_sim.sshd_config(Path("/st"), Path(h.root), h.socket)
    assert f"SetEnv DOCKER_HOST={h.socket}" in cfg
    assert "PasswordAuthentication no" in cfg
    assert "SetEnv" not in fleet_sim.sshd_config(Path("/st"), Path("/st"))
    client = fleet_sim.ssh_client_config(Path("/deep/state"), Path("/run/x"))
    assert "ControlPath /run/x/cm-%C" in client  # short: unix socket paths < 108
