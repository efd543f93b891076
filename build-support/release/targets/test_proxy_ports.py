"""A redeploy asks for the proxy's ports as the running proxy was created: the
public port it has, the HTTPS and internal ports it asked for (none where Docker
picked one), so the proxy's resolved configuration, and its hash, stay the same."""

from __future__ import annotations

from release.model import live
from release.model.desired import ROLE_PROXY, Unit
from release.targets.resolve import _proxy_variables

PROXY = Unit("proxy", "proxy", ROLE_PROXY, 1, False, 10.0)


def proxy_container(asked: dict, actual: dict) -> live.LiveContainer:
    binding = lambda ip, port: [{"HostIp": ip, "HostPort": port}]  # noqa: E731
    return live.parse_container(
        {
            "Id": "p" * 64,
            "Config": {"Labels": {"com.docker.compose.service": "proxy"}},
            "State": {"Status": "running"},
            "HostConfig": {"PortBindings": {k: binding(*v) for k, v in asked.items()}},
            "NetworkSettings": {"Ports": {k: binding(*v) for k, v in actual.items()}},
        },
        [],
    )


def test_kept_ports_are_the_ones_asked_for():
    c = proxy_container(
        asked={
            "8080/tcp": ("127.0.0.1", "38000"),
            "8443/tcp": ("127.0.0.1", ""),  # Docker picked it
            "8081/tcp": ("127.0.0.1", "38001"),
        },
        actual={
            "8080/tcp": ("127.0.0.1", "38000"),
            "8443/tcp": ("127.0.0.1", "32768"),
            "8081/tcp": ("127.0.0.1", "38001"),
        },
    )
    state = live.LiveState("p", (c,))
    assert _proxy_variables([PROXY], state, None, None) == {
        "PROXY_PORT": "38000",  # not 32768, the first of the sorted bindings
        "PROXY_BIND": "127.0.0.1",
        "PROXY_INTERNAL_PORT": "38001",
    }
    # an explicit port wins over the running one
    assert _proxy_variables([PROXY], state, 9090, None)["PROXY_PORT"] == "9090"
