import pytest

from release.model.target_graph import Graph, build_dir, display, path_to

PEEK = [
    {
        "address": "services/auth/auth_service/cli.py:../lib",
        "target_type": "python_source",
        "dependencies": ["shared/common/runner.py"],
        "sources": ["services/auth/auth_service/cli.py"],
        "sources_fingerprint": "ignored",
    },
    {
        "address": "shared/common/runner.py",
        "target_type": "python_source",
        "dependencies": [],
        "sources": ["shared/common/runner.py"],
    },
    {
        "address": "services/auth:deps",
        "target_type": "pex_binary",
        "dependencies": ["services/auth/auth_service/cli.py:../lib"],
    },
    {
        "address": "services/auth:image",
        "target_type": "docker_image",
        "dependencies": ["services/auth:deps"],
        "sources": ["services/auth/Dockerfile"],
    },
]


@pytest.mark.parametrize(
    "address, sources, expected",
    [
        ("services/auth:lib", ["services/auth/auth_service/cli.py"], "services/auth"),
        (
            "services/auth/auth_service/cli.py:../lib",
            ["services/auth/auth_service/cli.py"],
            "services/auth",
        ),
        ("shared/common/db.py", ["shared/common/db.py"], "shared/common"),
        ("//pants.toml:pants-config", ["pants.toml"], ""),
        ("//:tasks", ["tasks.py"], ""),
        ("3rdparty/python:reqs#pyjwt", [], "3rdparty/python"),
    ],
)
def test_build_dir(address, sources, expected):
    assert build_dir(address, sources) == expected


def test_graph_from_peek_round_trips_and_answers():
    g = Graph.from_peek(PEEK)
    assert Graph.from_json(g.to_json()).targets == g.targets
    assert g.owners("services/auth/Dockerfile") == {"services/auth:image"}
    assert g.declared_in("services/auth") == {
        "services/auth/auth_service/cli.py:../lib",
        "services/auth:deps",
        "services/auth:image",
    }
    assert "shared/common/runner.py" in g.closure(["services/auth:image"])
    parent = g.reverse_reach(["shared/common/runner.py"])
    assert [display(g, a) for a in path_to(parent, "services/auth:image")] == [
        "shared/common/runner.py",
        "services/auth/auth_service/cli.py",
        "services/auth:deps",
        "services/auth:image",
    ]
