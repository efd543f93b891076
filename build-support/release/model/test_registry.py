import pytest

from release.adapters import docker_images
from release.adapters.registry_ecr import lifecycle_policy
from release.adapters.registry_local import LocalRegistryConfig
from release.model import registry as reg

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def test_secrets_never_print():
    secret = reg.Secret("hunter2")
    assert "hunter2" not in f"{secret} {secret!r} {[secret]}"
    assert secret.reveal() == "hunter2"


@pytest.mark.parametrize(
    "host, kind",
    [
        pytest.param("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "ecr", id="ecr"),
        pytest.param(
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", "ecr", id="cn"
        ),
        pytest.param("127.0.0.1:5000", "local", id="local"),
        pytest.param("registry.example.com", "local", id="other"),
    ],
)
def test_kind_of_host(host, kind):
    assert reg.kind_of_host(host) == kind


def test_unknown_registry_kind_is_one_line():
    with pytest.raises(
        reg.RegistryError, match=r"^unknown registry 'gcr' \(known: local, ecr\)$"
    ):
        reg.check_kind("gcr")


def test_push_digest_is_the_last_one_docker_reports():
    out = f"abc: Pushed\nmain-1: digest: {D1} size: 1573\n"
    assert reg.parse_push_digest(out) == D1
    with pytest.raises(reg.RegistryError):
        reg.parse_push_digest("error")


def test_an_existing_tag_is_success_only_for_the_same_image():
    assert reg.accept_existing("r/x", "t", D1, {D1, D2}) == D1
    with pytest.raises(
        reg.RegistryError, match="r/x:t already exists with digest sha256:111111111111"
    ):
        reg.accept_existing("r/x", "t", D1, {D2})


def test_verify_tag_names_a_missing_tag_and_a_digest_mismatch():
    reg.verify_tag("r/x", "t", D1, D1)
    with pytest.raises(reg.RegistryError, match="^tag r/x:t is not in the registry$"):
        reg.verify_tag("r/x", "t", D1, None)
    with pytest.raises(
        reg.RegistryError, match="^digest mismatch for r/x:t: expected sha256:1"
    ):
        reg.verify_tag("r/x", "t", D1, D2)


def test_docker_commands_are_argument_lists():
    assert docker_images.push_command("h/r:t") == ["docker", "push", "h/r:t"]
    assert docker_images.tag_command("a:1", "h/a:1") == [
        "docker",
        "tag",
        "a:1",
        "h/a:1",
    ]
    # The password goes through stdin, never the command line.
    assert docker_images.login_command("h", "AWS") == [
        "docker",
        "login",
        "--username",
        "AWS",
        "--password-stdin",
        "h",
    ]


def test_local_registry_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv("ECOTRACK_REGISTRY_PORT", "5999")
    monkeypatch.setenv("ECOTRACK_REGISTRY_DIR", str(tmp_path))
    cfg = LocalRegistryConfig.from_env()
    assert cfg.address == "127.0.0.1:5999"
    text = cfg.config_text()
    assert "addr: 127.0.0.1:5999" in text
    assert f"rootdirectory: {tmp_path / 'storage'}" in text
    monkeypatch.setenv("ECOTRACK_REGISTRY_PORT", "x")
    with pytest.raises(reg.RegistryError, match="is not a port"):
        LocalRegistryConfig.from_env()


def test_local_registry_default_lives_in_the_state_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("ECOTRACK_REGISTRY_PORT", raising=False)
    monkeypatch.delenv("ECOTRACK_REGISTRY_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    cfg = LocalRegistryConfig.from_env()
    assert (cfg.address, cfg.home) == (
        "127.0.0.1:5000",
        tmp_path / "ecotrack" / "registry",
    )


def test_ecr_lifecycle_policy_keeps_promoted_and_recent_images():
    rules = lifecycle_policy(keep_promoted=200, keep_images=100)["rules"]
    assert [r["rulePriority"] for r in rules] == [1, 2, 3, 4]
    assert rules[0]["selection"]["tagPatternList"] == ["prod-*"]
    assert rules[1]["selection"]["tagPatternList"] == ["staging-*"]
    assert rules[2]["selection"]["tagStatus"] == "untagged"
    last = rules[-1]["selection"]  # "any" must come last
    assert (last["tagStatus"], last["countNumber"]) == ("any", 100)
    assert all(r["action"] == {"type": "expire"} for r in rules)
