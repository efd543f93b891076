import json

import pytest

from release.model import manifest as m

DIGEST = "sha256:" + "ab" * 32


def entry(**overrides) -> dict:
    data = {
        "image": f"127.0.0.1:5000/ecotrack/waste:main-3f2a9c1@{DIGEST}",
        "version": "1.3.0",
        "git_sha": "3f2a9c1",
        "deployed_at": "2026-11-28T22:00:00Z",
        "deployed_by": "ci",
        "replicas": 2,
        "feature_flags": {"new_model": "on"},
    }
    return {**data, **overrides}


def doc(**services) -> dict:
    return {"environment": "staging", "services": services}


def test_round_trip_is_deterministic_and_sorted():
    manifest = m.from_dict(doc(waste=entry(), auth=entry()))
    text = m.dumps(manifest)
    assert text.endswith("}\n")
    assert text.index('"auth"') < text.index('"waste"')
    assert m.dumps(m.loads(text, "x")) == text


def test_one_service_change_is_a_one_entry_diff():
    before = m.from_dict(doc(waste=entry(), auth=entry()))
    changed = m.ServiceEntry(**entry(version="1.4.0"))
    after = before.with_service("waste", changed)
    diff = [
        line
        for line in zip(m.dumps(before).splitlines(), m.dumps(after).splitlines())
        if line[0] != line[1]
    ]
    assert diff == [('      "version": "1.3.0"', '      "version": "1.4.0"')]


@pytest.mark.parametrize(
    "data, message",
    [
        pytest.param(
            doc(waste=entry(image="r/w:1")), "services/waste/image", id="no-digest"
        ),
        pytest.param(
            doc(waste=entry(replicas=-1)), "services/waste/replicas", id="replicas"
        ),
        pytest.param(
            doc(waste={**entry(), "extra": 1}), "services/waste", id="unknown-key"
        ),
        pytest.param({"environment": "moon", "services": {}}, "environment", id="env"),
        pytest.param({"services": {}}, "(top level)", id="missing-env"),
    ],
)
def test_invalid_manifests_name_the_file_and_key(data, message):
    with pytest.raises(m.ManifestError, match=r"^staging.json: invalid manifest at "):
        m.from_dict(data, "staging.json")
    with pytest.raises(m.ManifestError) as info:
        m.from_dict(data, "staging.json")
    assert message in str(info.value)


def test_not_json_is_one_line(tmp_path):
    path = tmp_path / "staging.json"
    path.write_text("{oops")
    with pytest.raises(m.ManifestError, match=r"staging.json: not valid JSON"):
        m.load(path)


def test_not_utf8_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "staging.json"
    path.write_bytes(b"\xff\xfe\x00{")
    with pytest.raises(m.ManifestError) as info:
        m.load(path, "staging")
    assert str(info.value).startswith(f"{path}: not UTF-8 text (byte 0 is 0xff)")
    assert "\n" not in str(info.value)
    with pytest.raises(m.ManifestError, match=r"^staging.json at abc: not UTF-8"):
        m.loads(b"\xff\xfe\x00{", "staging.json at abc")


def test_unreadable_file_is_one_line(tmp_path):
    (tmp_path / "staging.json").mkdir()
    with pytest.raises(m.ManifestError, match=r"staging.json: cannot be read"):
        m.load(tmp_path / "staging.json", "staging")


def test_utf8_bytes_load_like_text():
    text = json.dumps(doc(waste=entry()))
    assert m.loads(text.encode(), "x") == m.loads(text, "x")


def test_missing_file_is_empty_for_a_known_env_and_wrong_env_is_refused(tmp_path):
    assert m.load(tmp_path / "prod.json", "prod").services == {}
    path = tmp_path / "prod.json"
    path.write_text(json.dumps(doc()))
    with pytest.raises(m.ManifestError, match="expected 'prod'"):
        m.load(path, "prod")


def test_write_is_atomic_and_refuses_invalid(tmp_path):
    path = tmp_path / "staging.json"
    good = m.from_dict(doc(waste=entry()))
    m.write_atomic(path, good)
    before = path.read_text()
    bad = good.with_service("waste", m.ServiceEntry(**entry(image="nodigest")))
    with pytest.raises(m.ManifestError):
        m.write_atomic(path, bad)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["staging.json"]


def test_image_refs_parse_and_build_in_one_place():
    ref = m.parse_image(f"127.0.0.1:5000/ecotrack/waste:main-3f2a9c1@{DIGEST}")
    assert (ref.registry, ref.path, ref.tag, ref.digest) == (
        "127.0.0.1:5000",
        "ecotrack/waste",
        "main-3f2a9c1",
        DIGEST,
    )
    assert str(ref) == f"127.0.0.1:5000/ecotrack/waste:main-3f2a9c1@{DIGEST}"
    assert m.parse_image(f"ecotrack/waste:t@{DIGEST}").registry == ""
    with pytest.raises(m.ManifestError, match="not of the form"):
        m.parse_image("ecotrack/waste:latest")


def test_committed_manifests_validate_and_are_formatted_as_written():
    paths = sorted(m.VERSIONS_DIR.glob("*.json"))
    assert {"staging", "prod"} <= {p.stem for p in paths}
    for path in paths:
        manifest = m.load(path, path.stem)  # validates against the schema
        assert m.dumps(manifest) == path.read_text()
