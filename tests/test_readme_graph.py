"""The README's dependency graph is generated: it must match what Pants infers today."""

from release.change import readme_graph


def test_readme_graph_matches_pants():
    readme = readme_graph.README.read_text()
    assert readme_graph.current_block(readme) == readme_graph.render(
        readme_graph.query_pants()
    ), "README.md's dependency graph is stale: run ./inv graph --write"


def test_graph_shows_the_real_shared_code_boundaries():
    graph = readme_graph.query_pants()
    users_of = {
        m: sorted(s for s, mods in graph.items() if m in mods)
        for m in ("core.categories", "core.geo", "common.http")
    }
    assert users_of["core.categories"] == ["recycling", "waste"]
    assert users_of["core.geo"] == ["locations"]
    assert users_of["common.http"] == [
        "auth",
        "locations",
        "recycling",
        "users",
        "waste",
    ]
