from release.model.manifest import Manifest, ServiceEntry
from release.publish.pipeline import Published, PublishResult, changed_since_manifest

HEAD = "c" * 40
KNOWN = ["auth", "locations", "recycling", "users", "waste"]


def entry(sha: str) -> ServiceEntry:
    return ServiceEntry(
        image=f"r/x:t@sha256:{'0' * 64}",
        version="1.0.0",
        git_sha=sha,
        deployed_at="2026-11-28T22:00:00Z",
        deployed_by="x",
        replicas=2,
        feature_flags={},
    )


class Affected:
    """Records which commits were asked about; answers from a table."""

    def __init__(self, table: dict[str, list[str]]):
        self.table, self.asked = table, []

    def __call__(self, sha: str) -> list[str]:
        self.asked.append(sha)
        return self.table[sha]


def test_an_empty_manifest_publishes_everything_without_asking():
    affected = Affected({})
    manifest = Manifest("local", {})
    assert changed_since_manifest(manifest, KNOWN, HEAD, False, affected) == KNOWN
    assert affected.asked == []


def test_services_at_head_on_a_clean_tree_are_unchanged():
    manifest = Manifest("staging", {n: entry(HEAD[:7]) for n in KNOWN})
    affected = Affected({})
    assert changed_since_manifest(manifest, KNOWN, HEAD, False, affected) == []
    assert affected.asked == []


def test_one_query_per_recorded_commit_and_only_its_services():
    a, b = "a" * 40, "b" * 40
    manifest = Manifest(
        "staging",
        {"auth": entry(a), "users": entry(a), "waste": entry(b), "recycling": entry(b)},
    )
    affected = Affected({a: ["users", "waste"], b: ["recycling", "auth"]})
    got = changed_since_manifest(manifest, KNOWN, HEAD, False, affected)
    # locations is new; users changed since a; recycling since b. waste changed
    # since a, but its entry records b, which the change is not after.
    assert got == ["locations", "recycling", "users"]
    assert affected.asked == [a, b]


def test_a_dirty_tree_asks_even_at_head():
    manifest = Manifest("local", {n: entry(HEAD) for n in KNOWN})
    affected = Affected({HEAD: ["waste"]})
    assert changed_since_manifest(manifest, KNOWN, HEAD, True, affected) == ["waste"]


def test_result_lists_built_and_pushed():
    p = Published("waste", "1", "t", "i", "d", False, None, None, 0.1)
    q = Published("auth", "1", "t", "i", "d", True, None, None, 0.1)
    data = PublishResult("local", "local", "x", published=(p, q)).to_dict()
    assert (data["built"], data["pushed"]) == (["waste", "auth"], ["auth"])
