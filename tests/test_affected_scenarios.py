"""`./inv affected` on a scratch copy of this repository, one commit per scenario.

Not run by Pants (they run Pants themselves):
`.venv/bin/pytest tests/test_affected_scenarios.py`.
The copy's pantsd stays up for the whole module and is stopped at the end.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from testing.affected_cases import ALL, CASES, check_out, touch
from testing.scenario_repo import ScenarioRepo, link_tooling_venv

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    with ScenarioRepo.for_tests(tmp_path_factory, "affected") as r:
        yield r


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=f"rule{c.rule}-{c.id}") for c in CASES]
)
def test_case(repo, case):
    since = check_out(repo, case)
    data = repo.affected_json("--explain", since=since)
    got = {
        "include": [i["service"] for i in data["include"]],
        "deploy_only": data["deploy_only"],
        "test_only": data["test_only"],
        "other_images": data["other_images"],
    }
    assert got == {
        "include": list(case.include),
        "deploy_only": list(case.deploy_only),
        "test_only": list(case.test_only),
        "other_images": list(case.other_images),
    }
    assert data["include"] == [
        {"service": s, "image_target": f"services/{s}:image"} for s in case.include
    ]
    explain = data["explain"]
    for service in case.include:
        chain = explain["chains"][service]
        assert chain[-1] in (f"services/{service}:image", "(graph at the merge-base)")
    for path, words in case.why.items():
        assert words in explain["no_effect"][path], explain["no_effect"]


def test_plain_output_is_sorted_names_one_per_line(repo):
    check_out(repo, next(c for c in CASES if c.id == "shared-categories"))
    r = repo.affected("--since", "main")
    assert (r.returncode, r.stdout) == (0, "recycling\nwaste\n")


def test_no_affected_service_prints_nothing_and_exits_zero(repo):
    repo.branch("case-nothing")
    touch("README.md")(repo)
    repo.commit("docs")
    r = repo.affected("--since", "main")
    assert (r.returncode, r.stdout) == (0, "")
    assert repo.affected_json()["include"] == []


def test_explain_names_the_chain_and_why_others_do_not_count(repo):
    repo.branch("case-explain")
    touch("shared/core/geo.py")(repo)
    touch("docs/guide.md", "guide\n")(repo)
    repo.commit("explain")
    r = repo.affected("--since", "main", "--explain")
    assert r.returncode == 0
    assert (
        "locations: shared/core/geo.py → services/locations/locations_service/"
        in r.stdout
    )
    assert r.stdout.splitlines()[2].rstrip().endswith("→ services/locations:image")
    assert "docs/guide.md: documentation" in r.stdout


def test_global_input_is_explained(repo):
    repo.branch("case-global-explain")
    touch("pants.toml")(repo)
    repo.commit("pants.toml")
    out = repo.affected("--since", "main", "--explain").stdout
    assert "pants.toml → global build input: Pants configuration" in out
    assert "pants.toml is a global build input" in out and "every service" in out


def test_deleted_module_is_resolved_at_the_merge_base(repo):
    check_out(repo, next(c for c in CASES if c.id == "delete-module"))
    data = repo.affected_json("--explain")
    # The deleted path itself reaches locations through the merge-base's graph.
    assert "shared/core/geo.py" not in data["explain"]["no_effect"]
    assert "shared/core/tests/test_core_geo.py" in data["explain"]["no_effect"]


def test_deleted_module_still_imported_lists_its_users_and_warns(repo):
    """Pants cannot build the working tree's graph (UnownedDependencyError): the users
    of the deleted module, from the merge-base's graph, are affected so that CI runs
    their jobs, which then fail with Pants' own error."""
    repo.branch("case-delete-still-imported")
    repo.delete("shared/core/geo.py")
    repo.commit("delete core.geo; locations still imports it")
    r = repo.affected("--since", "main")
    assert (r.returncode, r.stdout) == (0, "locations\n"), r.stderr
    assert "Traceback" not in r.stderr
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1, r.stderr
    assert "dependency graph could not be built" in warnings[0]
    assert "imports core.geo.Point, deleted by this change" in warnings[0]
    assert "merge-base's graph: locations " in warnings[0]
    data = repo.affected_json("--explain")
    assert data["include"] == [
        {"service": "locations", "image_target": "services/locations:image"}
    ]
    chain = data["explain"]["chains"]["locations"]
    assert chain[0] == "shared/core/geo.py (deleted)"


def test_import_of_a_module_that_never_existed_is_still_an_error(repo):
    repo.branch("case-unowned-import")
    repo.append("services/waste/waste_service/jobs.py", "import nowhere_at_all\n")
    repo.commit("import a module nobody provides")
    r = repo.affected("--since", "main")
    assert (r.returncode, r.stdout) == (1, "")
    assert "Traceback" not in r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert errors == [
        "error: Pants could not compute the dependency graph: "
        "services/waste/waste_service/jobs.py imports nowhere_at_all, which no file in "
        "the tree provides (UnownedDependencyError)"
    ]


def test_uncommitted_and_untracked_count_unless_committed_only(repo):
    repo.branch("case-dirty")
    touch("README.md")(repo)
    repo.commit("committed docs only")
    touch("services/waste/waste_service/jobs.py")(repo)  # uncommitted
    repo.write("services/auth/auth_service/extra.py", "VALUE = 1\n")  # untracked
    repo.write("dist/ignored.py", "x = 1\n")  # ignored by git: never counts
    names = [i["service"] for i in repo.affected_json()["include"]]
    assert names == ["auth", "waste"]
    assert repo.affected_json("--committed-only")["include"] == []
    repo.git("checkout", "-q", "-f", "main")
    repo.git("clean", "-q", "-f", "-d")


def one_error_line(r: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    return lines[0]


def test_unknown_ref_is_one_clear_line(repo):
    r = repo.affected("--since", "no-such-branch")
    assert r.returncode == 2
    line = one_error_line(r)
    assert line.startswith("error: unknown ref 'no-such-branch'")
    assert r.stdout == ""


def test_shallow_clone_without_the_merge_base_says_fetch_full_history(repo, tmp_path):
    repo.branch("case-shallow")
    touch("README.md")(repo)
    repo.commit("one")
    touch("README.md")(repo)
    repo.commit("two")
    shallow = tmp_path / "shallow"
    subprocess.run(
        [
            "git",
            "clone",
            "-q",
            "--depth",
            "1",
            "--no-single-branch",
            "--branch",
            "case-shallow",
            f"file://{repo.path}",
            str(shallow),
        ],
        check=True,
    )
    link_tooling_venv(shallow)
    clone = ScenarioRepo(shallow, repo.env)
    try:
        r = clone.affected("--since", "origin/main")
        assert r.returncode == 1
        assert "git fetch --unshallow" in one_error_line(r)
        # With enough history the same question is answered.
        clone.git("fetch", "-q", "--deepen", "5")
        r = clone.affected("--since", "origin/main", "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["include"] == []
    finally:
        clone.stop_pantsd()  # only if something started one


def test_every_service_is_covered_by_the_cases():
    assert set(ALL) <= {s for c in CASES for s in c.include}
    assert {c.rule for c in CASES} >= set("12345678")
