from datetime import datetime, timezone

import pytest

from release.base.errors import ConfigError
from release.model import releases as r
from release.model.manifest import ServiceEntry

NOW = datetime(2026, 11, 28, 22, 0, 5, 123456, tzinfo=timezone.utc)
SHA = "3f2a9c1d" + "0" * 32
DIGEST = "sha256:" + "ab" * 32


def entry(**overrides) -> ServiceEntry:
    data = dict(
        image=f"127.0.0.1:5000/ecotrack/waste:main-3f2a9c1@{DIGEST}",
        version="1.3.0",
        git_sha="3f2a9c1",
        deployed_at="2026-11-01T10:00:00Z",
        deployed_by="ci",
        replicas=4,
        feature_flags={"new_model": "on"},
    )
    return ServiceEntry(**{**data, **overrides})


@pytest.mark.parametrize(
    "branch, dirty, expected",
    [
        pytest.param("main", False, "main-3f2a9c1", id="main"),
        pytest.param("feature/Add_Bins", False, "feature-add_bins-3f2a9c1", id="slash"),
        pytest.param("--weird..name--", False, "weird..name-3f2a9c1", id="edges"),
        pytest.param("", False, "detached-3f2a9c1", id="empty"),
        pytest.param(
            "main", "ab12" * 16, "main-3f2a9c1-dirty-ab12ab12ab12", id="dirty"
        ),
    ],
)
def test_image_tag_is_branch_and_short_sha_sanitized(branch, dirty, expected):
    assert r.image_tag(branch, SHA, dirty or "") == expected


def test_same_dirty_tree_same_tag_another_edit_another_tag():
    # the tag carries the first 12 characters of the fingerprint of the changes
    for _ in range(2):
        assert r.image_tag("main", SHA, "a" * 64) == "main-3f2a9c1-dirty-aaaaaaaaaaaa"
    assert r.image_tag("main", SHA, "b" * 64) == "main-3f2a9c1-dirty-bbbbbbbbbbbb"


def test_image_tag_never_exceeds_128_characters():
    tag = r.image_tag("x" * 300, SHA, "c" * 64)
    assert len(tag) == 128 and tag.endswith("-3f2a9c1-dirty-cccccccccccc")


def test_timestamp_is_rfc3339_utc_whole_seconds():
    assert r.timestamp(NOW) == "2026-11-28T22:00:05Z"


@pytest.mark.parametrize(
    "env, tag, expected",
    [
        pytest.param("prod", "main-3f2a9c1", "prod-main-3f2a9c1", id="fresh"),
        pytest.param("prod", "staging-main-3f2a9c1", "prod-main-3f2a9c1", id="again"),
        pytest.param("staging", "prod-main-1", "staging-main-1", id="back"),
    ],
)
def test_promoted_tag_names_the_environment_once(env, tag, expected):
    assert r.promoted_tag(env, tag) == expected


def test_read_version_reads_text_and_names_the_file():
    assert r.read_version('"""v"""\nVERSION = "1.3.0"\n', "v.py") == "1.3.0"
    assert r.read_version("VERSION = '2.0.0rc1'", "v.py") == "2.0.0rc1"
    with pytest.raises(ConfigError, match="^services/x/version.py: no line VERSION"):
        r.read_version("version = 1", "services/x/version.py")


def test_replicas_come_from_the_environment_then_the_base_then_one():
    base = {"services": {"waste": {"deploy": {"replicas": 2}}, "proxy": {}}}
    prod = {"services": {"waste": {"deploy": {"replicas": 3}}}}
    assert r.replicas_from_compose(base, prod, "waste") == 3
    assert r.replicas_from_compose(base, {}, "waste") == 2
    assert r.replicas_from_compose(base, prod, "proxy") == 1
    assert r.replicas_from_compose({}, {}, "auth") == 1


def test_new_entry_keeps_replicas_and_flags_of_the_environment():
    image = f"127.0.0.1:5000/ecotrack/waste:main-1111111@{DIGEST}"
    new = r.new_entry(
        entry(),
        image=image,
        version="1.4.0",
        git_sha="1111111",
        now=NOW,
        actor="dev@example.com",
        default_replicas=2,
    )
    assert new == ServiceEntry(
        image=image,
        version="1.4.0",
        git_sha="1111111",
        deployed_at="2026-11-28T22:00:05Z",
        deployed_by="dev@example.com",
        replicas=4,
        feature_flags={"new_model": "on"},
    )


def test_new_entry_for_a_new_service_takes_the_defaults():
    new = r.new_entry(
        None,
        image="x",
        version="1",
        git_sha="1111111",
        now=NOW,
        actor="a",
        default_replicas=3,
        default_flags={"beta": "off"},
    )
    assert (new.replicas, new.feature_flags) == (3, {"beta": "off"})


def test_restored_entry_is_the_earlier_one_with_todays_replicas():
    earlier = entry(version="1.2.0", replicas=2, feature_flags={})
    restored = r.restored_entry(earlier, entry(), NOW, "oncall")
    assert restored.image == earlier.image and restored.version == "1.2.0"
    assert restored.replicas == 4 and restored.feature_flags == {}
    assert (restored.deployed_at, restored.deployed_by) == (
        "2026-11-28T22:00:05Z",
        "oncall",
    )


def test_commit_message_lists_each_service_version_and_tag():
    lines = [r.Line("auth", "1.0.1", "main-3f2a9c1"), r.Line("waste", "1.3.0", "t")]
    assert (
        r.commit_message("staging", lines)
        == "release(staging): auth 1.0.1 main-3f2a9c1, waste 1.3.0 t"
    )
    assert r.commit_message("prod", lines[:1], note="promoted from staging") == (
        "release(prod): auth 1.0.1 main-3f2a9c1 (promoted from staging)"
    )
