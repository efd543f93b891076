from release.change import readme_graph


def test_shared_modules_keep_only_shared_python_modules():
    deps = [
        "shared/core/geo.py",
        "shared/common/http.py:../common",
        "shared/common/__init__.py",
        "services/locations/locations_service/main.py:lib",
        "3rdparty/python:reqs#fastapi",
    ]
    assert readme_graph.shared_modules(deps) == ["common.http", "core.geo"]


def test_render_collapses_common_and_splits_core():
    block = readme_graph.render({"waste": ["common.http", "core.categories"]})
    assert "    waste --> common" in block
    assert "    waste --> core_categories[core.categories]" in block
    assert "| waste | `common.http`, `core.categories` |" in block


def test_update_readme_replaces_only_the_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{readme_graph.BEGIN}\nold\n{readme_graph.END}\noutro\n")
    changed = readme_graph.update_readme(lambda: {"auth": ["common.http"]}, readme)
    text = readme.read_text()
    assert changed and text.startswith("intro\n") and text.endswith("\noutro\n")
    assert "old" not in text
    assert not readme_graph.update_readme(lambda: {"auth": ["common.http"]}, readme)
