import pytest

from release.adapters.host_access import DockerHostAccess
from release.base.errors import ConfigError, UsageError
from release.targets import environment
from release.targets.target import Deploy, Look

FLEET = """
hosts:
  - {name: web-1, endpoint: "ssh://deploy@10.0.1.11"}
  - {name: web-2, endpoint: "ssh://deploy@10.0.1.12"}
"""
ACCESS = DockerHostAccess()  # nothing here connects
SWARM = "target: swarm\nmanager: unix:///run/docker.sock\n"


def hosts_file(root, text, env="prod"):
    path = environment.hosts_path(root, env)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_no_hosts_file_is_one_docker_host(tmp_path):
    target = environment.open_target(ACCESS, tmp_path, "prod", host="ssh://me@box")
    assert (target.kind, target.source) == ("host", "ssh://me@box")
    target.require_one_host("--canary")  # allowed: it is one


def test_hosts_yaml_is_a_fleet_or_a_swarm(tmp_path):
    path = hosts_file(tmp_path, FLEET)
    fleet = environment.open_target(ACCESS, tmp_path, "prod")
    assert fleet.kind == "fleet"
    assert fleet.describe() == f"{path}: a fleet of 2 hosts"
    other = hosts_file(tmp_path, SWARM, env="staging")
    swarm = environment.open_target(ACCESS, tmp_path, "prod", hosts=str(other))
    assert swarm.describe() == f"{other}: a Swarm managed by unix:///run/docker.sock"


@pytest.mark.parametrize("text, label", [(FLEET, "a fleet"), (SWARM, "a Swarm")])
def test_what_one_host_does_is_refused_in_one_line(tmp_path, text, label):
    path = hosts_file(tmp_path, text)
    with pytest.raises(UsageError) as err:
        environment.open_target(ACCESS, tmp_path, "prod").require_one_host("--canary")
    assert str(err.value) == (
        f"--canary drives one Docker host; {path} describes {label}"
    )
    with pytest.raises(UsageError) as err:
        environment.open_target(ACCESS, tmp_path, "prod", host="ssh://me@box")
    assert str(err.value) == (
        f"--host names one Docker host, but {path} describes {label}: "
        "drop --host (or --hosts-file)"
    )


def test_an_unknown_target_kind_names_the_file_and_key(tmp_path):
    path = hosts_file(tmp_path, "target: nomad\n")
    with pytest.raises(ConfigError) as err:
        environment.open_target(ACCESS, tmp_path, "prod")
    assert str(err.value) == f"{path}: target: must be compose or swarm (got 'nomad')"


def test_a_fleet_result_splits_per_host_and_a_host_result_is_its_own(tmp_path):
    class Result:  # what the fleet's deploy returns: (host, result) in order
        hosts = [("web-1", "r1"), ("web-2", "r2")]

    hosts_file(tmp_path, FLEET)
    assert environment.open_target(ACCESS, tmp_path, "prod").per_host(Result()) == [
        "r1",
        "r2",
    ]
    assert environment.open_target(ACCESS, tmp_path, "dev").per_host("r") == ["r"]


def test_requests_default_to_what_a_plain_deploy_and_look_ask():
    assert Deploy().parallel == 0 and Deploy().dry_run is False
    assert Look().client("unix:///x.sock") is None
    assert Look(client_for=lambda e: f"client of {e}").client("e") == "client of e"


def recording(monkeypatch, module: str, name: str, answer):
    """Replaces module.name with a stand-in that checks each call against the real
    signature (TypeError if the real one would refuse it) and records its kwargs."""
    import importlib
    import inspect

    real = getattr(importlib.import_module(module), name)
    calls = []

    def stand_in(*args, **kwargs):
        inspect.signature(real).bind(*args, **kwargs)
        calls.append(kwargs)
        return answer

    monkeypatch.setattr(f"{module}.{name}", stand_in)
    return calls


@pytest.mark.parametrize(
    "text, module, name",
    [
        (None, "release.targets.host.rollout", "deploy"),
        (FLEET, "release.targets.fleet.rollout", "deploy_fleet"),
        (SWARM, "release.targets.swarm.rollout", "deploy_swarm"),
    ],
)
def test_each_kind_deploys_with_arguments_its_deploy_takes(
    tmp_path, monkeypatch, text, module, name
):
    calls = recording(monkeypatch, module, name, "result")
    if text:
        hosts_file(tmp_path, text)
    target = environment.open_target(ACCESS, tmp_path, "prod")
    job = Deploy(services=("waste",), project="p", dry_run=True, parallel=2)
    assert target.deploy(job) == "result"
    assert calls[0]["services"] == ("waste",) and calls[0]["dry_run"] is True
    assert calls[0]["project"] == "p"


@pytest.mark.parametrize(
    "text, module, name",
    [
        (None, "release.targets.host.observe", "observe"),
        (FLEET, "release.targets.fleet.observe", "observe_fleet"),
        (SWARM, "release.targets.swarm.observe", "observe_swarm"),
    ],
)
def test_each_kind_looks_with_arguments_its_look_takes(
    tmp_path, monkeypatch, text, module, name
):
    calls = recording(monkeypatch, module, name, "observation")
    if text:
        hosts_file(tmp_path, text)
    target = environment.open_target(ACCESS, tmp_path, "prod")
    look = Look(project="p", client_for=lambda endpoint: f"client of {endpoint}")
    assert target.observe(look) == "observation"
    assert calls[0]["project"] == "p"
