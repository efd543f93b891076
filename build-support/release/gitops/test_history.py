import json

import pytest

from release.base.errors import UsageError
from release.gitops import history as h
from release.model.manifest import ServiceEntry


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


def svc(n: int, version: str, **overrides) -> dict:
    data = {
        "image": f"127.0.0.1:5000/ecotrack/waste:main-{n:07x}@{digest(n)}",
        "version": version,
        "git_sha": f"{n:07x}",
        "deployed_at": f"2026-11-0{n}T10:00:00Z",
        "deployed_by": f"dev{n}",
        "replicas": 2,
        "feature_flags": {},
    }
    return {**data, **overrides}


def rev(commit: str, services: dict | None, env: str = "staging") -> h.Revision:
    text = (
        None
        if services is None
        else json.dumps({"environment": env, "services": services}, indent=2)
    )
    when = f"2026-12-0{commit}T00:00:00Z"
    return h.Revision(commit * 40, "Git Author <a@x>", when, "s", text)


REVISIONS = [
    rev("1", {}),
    rev("2", {"waste": svc(1, "1.0.0"), "auth": svc(1, "0.9.0")}),
    rev("3", {"waste": svc(2, "1.1.0"), "auth": svc(1, "0.9.0")}),
    rev("4", {"waste": svc(2, "1.1.0", replicas=3), "auth": svc(1, "0.9.0")}),
    rev("5", {"waste": svc(3, "1.2.0", replicas=3)}),
]


def test_events_are_newest_first_with_from_and_to():
    events, notes = h.events("staging", REVISIONS)
    assert notes == []
    rows = [
        (e.commit[0], e.service, e.action, e.from_version, e.to_version) for e in events
    ]
    assert rows == [
        ("5", "auth", "removed", "0.9.0", None),
        ("5", "waste", "updated", "1.1.0", "1.2.0"),
        ("4", "waste", "changed", "1.1.0", "1.1.0"),
        ("3", "waste", "updated", "1.0.0", "1.1.0"),
        ("2", "auth", "added", None, "0.9.0"),
        ("2", "waste", "added", None, "1.0.0"),
    ]
    updated = events[1]
    assert (updated.from_digest, updated.to_digest) == (digest(2), digest(3))
    assert (updated.when, updated.who) == ("2026-11-03T10:00:00Z", "dev3")
    assert events[2].changed == ("replicas",)
    removed = events[0]
    assert (removed.when, removed.who) == ("2026-12-05T00:00:00Z", "Git Author <a@x>")
    assert json.loads(json.dumps(updated.to_dict()))["to_version"] == "1.2.0"


def test_a_deleted_file_removes_everything_and_a_broken_one_is_skipped():
    broken = h.Revision("6" * 40, "a", "t", "s", "{oops")
    events, notes = h.events("staging", [*REVISIONS, broken, rev("7", None)])
    assert [(e.commit[0], e.service, e.action) for e in events[:1]] == [
        ("7", "waste", "removed")
    ]
    assert len(notes) == 1 and notes[0].startswith("skipped: staging.json at 666666")


def test_a_revision_that_is_not_utf8_is_skipped_with_a_note():
    # git supplies bytes: an old manifest need not have been UTF-8
    binary = h.Revision("6" * 40, "a", "t", "s", b"\xff\xfe\x00{")
    utf8 = rev("7", {"waste": svc(4, "1.3.0")})
    utf8 = h.Revision(utf8.commit, "a", "t", "s", utf8.text.encode())
    events, notes = h.events("staging", [*REVISIONS, binary, utf8])
    assert [(e.commit[0], e.to_version) for e in events[:1]] == [("7", "1.3.0")]
    assert notes == [
        "skipped: staging.json at 666666666666: not UTF-8 text (byte 0 is 0xff); "
        "manifests are UTF-8 JSON"
    ]


def test_filter_and_merge():
    staging, _ = h.events("staging", REVISIONS)
    prod, _ = h.events("prod", [rev("8", {"waste": svc(4, "1.3.0")}, env="prod")])
    merged = h.merge(staging, prod)
    assert merged[0].env == "prod" and merged[0].to_version == "1.3.0"
    # git's order wins over commit times (equal to the second, or skewed)
    by_git = h.merge(prod, staging, order=["5" * 40, "8" * 40])
    assert [e.commit[0] for e in by_git[:3]] == ["5", "5", "8"]
    assert {e.service for e in h.filter_events(merged, "auth")} == {"auth"}


def entries(*pairs) -> list[ServiceEntry]:
    return [ServiceEntry(**svc(n, v)) for n, v in pairs]


TIMELINE = entries((1, "1.0.0"), (2, "1.1.0"), (1, "1.0.0"), (3, "1.2.0"), (4, "1.3.0"))


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        pytest.param({}, "1.2.0", id="one-step"),
        pytest.param({"steps": 2}, "1.0.0", id="two-steps-distinct-images"),
        pytest.param({"steps": 3}, "1.1.0", id="three-steps"),
        pytest.param({"to_version": "1.1.0"}, "1.1.0", id="to-version"),
    ],
)
def test_rollback_target(kwargs, expected):
    current = TIMELINE[-1]
    target = h.rollback_target(
        TIMELINE, current, env="staging", service="waste", **kwargs
    )
    assert target.version == expected and target.image != current.image


@pytest.mark.parametrize(
    "timeline, kwargs, message",
    [
        pytest.param(
            TIMELINE[:1], {}, "no earlier release of waste in staging", id="none"
        ),
        pytest.param(TIMELINE, {"steps": 4}, "has 3 earlier release", id="too-far"),
        pytest.param(
            TIMELINE,
            {"to_version": "9.9"},
            "earlier: 1.2.0, 1.0.0, 1.1.0",
            id="version",
        ),
        pytest.param(TIMELINE, {"steps": 0}, "--steps must be 1 or more", id="zero"),
    ],
)
def test_rollback_target_refuses_what_history_lacks(timeline, kwargs, message):
    with pytest.raises(UsageError, match=message):
        h.rollback_target(
            timeline, timeline[-1], env="staging", service="waste", **kwargs
        )


def test_timeline_lists_the_services_entries_oldest_first():
    line = h.timeline("staging", REVISIONS, "auth")
    assert [e.version for e in line] == ["0.9.0", "0.9.0", "0.9.0"]
