"""hosts.yaml: parsed into a Fleet, or refused with one line naming file and key."""

from __future__ import annotations

import pytest

from release.base.errors import ConfigError
from release.targets import environment
from release.targets.fleet import hosts as fleet

GOOD = {
    "hosts": [
        {"name": "web-1", "endpoint": "ssh://deploy@10.0.1.11", "labels": {"az": "a"}},
        {"name": "web-2", "endpoint": "ssh://deploy@10.0.1.12:2222"},
        {"name": "web-3", "endpoint": "unix:///run/docker-3.sock"},
    ],
    "batch_size": 2,
    "front_proxy": "127.0.0.1:8080",
}


def test_parse_and_batches():
    f = fleet.parse(GOOD, "hosts.yaml")
    assert [h.name for h in f.hosts] == ["web-1", "web-2", "web-3"]
    assert f.hosts[0].labels == {"az": "a"}
    assert [[h.name for h in b] for b in f.batches()] == [["web-1", "web-2"], ["web-3"]]
    assert fleet.parse({"hosts": GOOD["hosts"]}).batch_size == 1


def _with(**changes):
    data = {**GOOD, "hosts": [dict(h) for h in GOOD["hosts"]]}
    for key, value in changes.items():
        if key.startswith("host1_"):
            data["hosts"][1][key[len("host1_") :]] = value
        else:
            data[key] = value
    return data


@pytest.mark.parametrize(
    "data, key",
    [
        ([], "(top)"),
        ({"hosts": []}, "hosts:"),
        ({"hosts": ["web-1"]}, "hosts[0]:"),
        (_with(colour="red"), "colour:"),
        (_with(host1_name="Web 2"), "hosts[1].name:"),
        (_with(host1_name="web-1"), "hosts[1].name: duplicate"),
        (_with(host1_endpoint="tcp://10.0.0.1:2375"), "hosts[1].endpoint:"),
        (_with(host1_endpoint="ssh://10.0.0.1"), "hosts[1].endpoint:"),
        (_with(host1_endpoint="ssh://a@b:70000"), "hosts[1].endpoint: port"),
        (_with(host1_endpoint="ssh://deploy@10.0.1.11"), "hosts[1].endpoint: dup"),
        (_with(host1_labels=["a"]), "hosts[1].labels:"),
        (_with(host1_role="db"), "hosts[1].role:"),
        (_with(batch_size=0), "batch_size:"),
        (_with(batch_size="2"), "batch_size:"),
        (_with(front_proxy="http://x"), "front_proxy:"),
    ],
)
def test_invalid_is_one_line_naming_file_and_key(data, key):
    with pytest.raises(ConfigError) as err:
        fleet.parse(data, "gitops/environments/prod/hosts.yaml")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"gitops/environments/prod/hosts.yaml: {key}")


def test_find_and_load(tmp_path):
    assert environment.find(tmp_path, "prod") is None
    path = environment.hosts_path(tmp_path, "prod")
    path.parent.mkdir(parents=True)
    path.write_text("hosts:\n  - name: a\n    endpoint: unix:///x.sock\n")
    assert environment.find(tmp_path, "prod").hosts[0].endpoint == "unix:///x.sock"
    path.write_text("hosts: [\n")
    with pytest.raises(ConfigError, match=r"hosts.yaml: line \d+: not valid YAML"):
        environment.find(tmp_path, "prod")
    other = tmp_path / "other.yaml"
    other.write_text("batch_size: 1\n")
    with pytest.raises(ConfigError, match="other.yaml: hosts:"):
        environment.find(tmp_path, "prod", str(other))
