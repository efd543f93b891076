import json

import pytest

from release.base.errors import ConfigError
from release.images import base as base_image


def test_definition_hash_changes_with_the_definition(tmp_path):
    (tmp_path / "a.toml").write_text("x = 1\n")
    before = base_image.definition_hash(tmp_path)
    assert before == base_image.definition_hash(tmp_path)
    (tmp_path / "a.toml").write_text("x = 2\n")
    assert base_image.definition_hash(tmp_path) != before


def test_invalid_definition_names_the_file(tmp_path):
    bad = tmp_path / "base-image.toml"
    bad.write_text("configured = 1\n")
    with pytest.raises(
        ConfigError, match="base-image.toml: invalid base image definition"
    ):
        base_image.BaseImageConfig.load(bad)


def test_repo_definition_loads():
    cfg = base_image.BaseImageConfig.load()
    assert "python3" in cfg.packages
    assert base_image.alias_name(cfg) == f"{cfg.local_repository}:{cfg.suite}"


IMAGE_A = "sha256:" + "a" * 64
IMAGE_B = "sha256:" + "b" * 64


def test_the_digest_is_recorded_then_a_changed_image_is_refused(tmp_path, monkeypatch):
    record = tmp_path / "base-image.json"
    ids = {"ecotrack/base:bookworm-1": IMAGE_A}
    monkeypatch.setattr(base_image.docker_images, "image_id", ids.get)
    assert base_image.pin("ecotrack/base:bookworm-1", record) == IMAGE_A
    assert json.loads(record.read_text()) == {"ecotrack/base:bookworm-1": IMAGE_A}
    assert base_image.pin("ecotrack/base:bookworm-1", record) == IMAGE_A
    ids["ecotrack/base:bookworm-1"] = IMAGE_B  # the same name, other content
    with pytest.raises(ConfigError, match="refusing a base image that changed"):
        base_image.pin("ecotrack/base:bookworm-1", record)


def test_ensure_base_image_returns_the_digest_and_tags_the_alias(tmp_path, monkeypatch):
    tagged = []
    monkeypatch.setattr(base_image, "_choose", lambda cfg, allow_pull: "python:x")
    monkeypatch.setattr(base_image.docker_images, "image_id", {"python:x": IMAGE_A}.get)
    monkeypatch.setattr(
        base_image.docker_images, "tag", lambda s, t: tagged.append((s, t))
    )
    got = base_image.ensure_base_image(record=tmp_path / "r.json")
    assert got == IMAGE_A
    assert tagged == [(IMAGE_A, "ecotrack/base:bookworm")]
    (tmp_path / "r.json").write_text(json.dumps({"python:x": IMAGE_B}))
    with pytest.raises(ConfigError, match="refusing"):
        base_image.ensure_base_image(record=tmp_path / "r.json")
