"""hosts.yaml with `target: swarm`: a SwarmEnv, or one line naming file and key."""

from __future__ import annotations

import pytest

from release.base.errors import ConfigError
from release.targets import environment
from release.targets.fleet import hosts as fleet
from release.targets.swarm.env import SwarmEnv


def test_parse_swarm_target():
    got = environment.parse(
        {"target": "swarm", "manager": "ssh://deploy@10.0.1.10:2222", "monitor": 5},
        "hosts.yaml",
    )
    assert got == SwarmEnv("ssh://deploy@10.0.1.10:2222", 8080, 5, "hosts.yaml")
    local = environment.parse({"target": "swarm", "manager": "unix:///run/docker.sock"})
    assert (local.proxy_port, local.monitor) == (8080, 10)


def test_explicit_compose_target_is_a_fleet():
    hosts = [{"name": "web-1", "endpoint": "ssh://deploy@10.0.1.11"}]
    assert isinstance(
        environment.parse({"target": "compose", "hosts": hosts}), fleet.Fleet
    )


@pytest.mark.parametrize(
    "data, message",
    [
        pytest.param(
            {"target": "kubernetes", "hosts": []},
            "f.yaml: target: must be compose or swarm (got 'kubernetes')",
            id="target",
        ),
        pytest.param(
            {"target": "swarm"},
            "f.yaml: manager: must be ssh://user@host[:port] or unix:///path "
            "(got None)",
            id="no-manager",
        ),
        pytest.param(
            {"target": "swarm", "manager": "unix:///s", "hosts": []},
            "f.yaml: hosts: unknown key for target swarm (known: target, manager, "
            "proxy_port, monitor)",
            id="hosts-with-swarm",
        ),
        pytest.param(
            {"target": "swarm", "manager": "unix:///s", "proxy_port": 70000},
            "f.yaml: proxy_port: must be an integer from 1 to 65535 (got 70000)",
            id="port",
        ),
        pytest.param(
            {"target": "swarm", "manager": "unix:///s", "monitor": "5s"},
            "f.yaml: monitor: must be an integer from 1 to 600 (got '5s')",
            id="monitor",
        ),
    ],
)
def test_errors_are_one_line(data, message):
    with pytest.raises(ConfigError) as err:
        environment.parse(data, "f.yaml")
    assert str(err.value) == message


def test_the_agent_refuses_host_with_a_swarm_environment(tmp_path):
    """With --host the agent would look at another engine than the manager."""
    from release.adapters.host_access import DockerHostAccess
    from release.agent.config import AgentConfig
    from release.agent.target import AgentTarget
    from release.base.errors import UsageError

    class Clone:  # the agent's checkout: only where its gitops/ is
        gitops = tmp_path

    hosts = tmp_path / "environments" / "staging" / "hosts.yaml"
    hosts.parent.mkdir(parents=True)
    hosts.write_text("target: swarm\nmanager: unix:///run/docker.sock\n")
    config = AgentConfig("staging", "repo", host="ssh://me@box")
    with pytest.raises(UsageError) as err:
        AgentTarget(config, "p", Clone(), DockerHostAccess()).observe(manifest=None)
    assert str(err.value) == (
        f"--host names one Docker host, but {hosts} describes a Swarm: "
        "drop --host (or --hosts-file)"
    )
