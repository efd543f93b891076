"""The held-out truth of bench/affected.py (bench/heldout.py), on this repository's
own files: no Pants, no Docker."""

from __future__ import annotations

from pathlib import Path

from bench import heldout, heldout_edits

ROOT = Path(__file__).resolve().parents[1]
TREE = heldout.Tree(ROOT)
BASE = heldout.service_closures(TREE)


def truth(*paths: str) -> dict:
    return heldout.truth(paths, TREE, TREE, BASE).as_dict()


def test_the_import_walk_reaches_shared_code_and_third_party():
    image, tests = BASE["locations"]
    assert "shared/core/geo.py" in image.files
    assert "services/locations/locations_service/data/points.json" in image.files
    assert "shared/core/__init__.py" in image.files  # the package on the way
    assert {"fastapi", "starlette", "pydantic"} <= image.projects
    assert "services/locations/tests/test_locations_api.py" in tests.files
    assert "httpx" in tests.projects


def test_truth_of_plain_changes():
    assert truth("shared/core/geo.py")["include"] == ["locations"]
    assert truth("shared/common/http.py")["include"] == list(heldout.SERVICES)
    assert truth("services/waste/tests/test_waste_worker.py") == {
        "include": [],
        "test_only": ["waste"],
        "deploy_only": [],
    }
    assert truth("README.md") == {"include": [], "test_only": [], "deploy_only": []}
    assert truth("pants.toml")["include"] == list(heldout.SERVICES)
    assert truth("services/users/BUILD")["include"] == ["users"]


def test_compose_blocks_tell_services_apart():
    text = (ROOT / heldout.COMPOSE).read_text()
    blocks = heldout.compose_blocks(text)
    assert set(heldout.SERVICES) | {"waste-worker", "proxy"} <= set(blocks)
    assert "command:" in blocks["waste-worker"]


def test_scenarios_are_reproducible_from_the_seed():
    a = heldout_edits.scenarios(7, 30, TREE)
    b = heldout_edits.scenarios(7, 30, TREE)
    assert [[(e.kind, e.path, e.also) for e in s] for s in a] == [
        [(e.kind, e.path, e.also) for e in s] for s in b
    ]
    kinds = {e.kind.split(" (")[0] for s in a for e in s}
    assert len(kinds) >= 8  # a mix, not one kind
