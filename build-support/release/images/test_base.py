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
