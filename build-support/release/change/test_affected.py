"""The rules of `./inv affected` on a small graph shaped like the repo's (pure)."""

from __future__ import annotations

import json

import pytest

from release.change import affected
from release.change.affected import Change, Inputs
from release.cli import affected_render
from release.change.fake_graph import (
    HEAD,
    LOCK,
    REQS,
    SERVICES,
    repo_graph,
    run,
    service,
    shared,
)


@pytest.mark.parametrize(
    "path, include, test_only",
    [
        pytest.param(
            "services/waste/waste_service/main.py", ["waste"], [], id="own-source"
        ),
        pytest.param(
            "services/waste/tests/test_waste.py", [], ["waste"], id="own-tests"
        ),
        pytest.param("shared/core/geo.py", ["locations"], [], id="shared-one-user"),
        pytest.param(
            "shared/common/http.py", list(SERVICES), [], id="shared-all-users"
        ),
        pytest.param("shared/common/jwt_tokens.py", ["auth"], [], id="shared-jwt"),
        pytest.param("services/auth/Dockerfile", ["auth"], [], id="dockerfile"),
        pytest.param(
            "services/locations/data/points.json", ["locations"], [], id="resource"
        ),
        pytest.param("services/waste/BUILD", ["waste"], [], id="build-file"),
        pytest.param(
            "services/waste/notes.txt", ["waste"], [], id="unowned-in-service"
        ),
        pytest.param(
            "services/waste/tests/data.csv", [], ["waste"], id="unowned-test-data"
        ),
        pytest.param("tasks.py", [], [], id="tooling"),
        pytest.param("shared/core/data.csv", [], [], id="unowned-outside-services"),
        pytest.param("README.md", [], [], id="docs"),
        pytest.param("services/waste/README.md", [], [], id="service-docs"),
        pytest.param(".github/workflows/ci.yml", [], [], id="ci"),
    ],
)
def test_one_changed_path(path, include, test_only):
    r = run(path)
    assert (list(r.include), list(r.test_only)) == (include, test_only)
    assert r.deploy_only == ()
    if not include:
        assert path in r.no_effect


@pytest.mark.parametrize(
    "path",
    ["pants.toml", "BUILD", "build-support/macros.py", "build-support/base-image/x"],
)
def test_global_inputs_affect_every_service_and_image_and_say_so(path):
    r = run(path)
    assert r.include == SERVICES
    assert r.other_images == ("gitops/proxy:image",)
    assert r.chains["waste"][0] == path
    assert "global build input" in r.chains["waste"][1]
    assert r.chains["waste"][2] == "services/waste:image"
    assert any(path in n and "every service" in n for n in r.notes)


def test_the_proxy_is_an_other_image_not_a_service():
    r = run("gitops/proxy/haproxy.cfg")
    assert r.include == () and r.other_images == ("gitops/proxy:image",)


def test_explain_chain_goes_from_the_file_to_the_image():
    r = run("shared/core/geo.py")
    assert r.chains["locations"] == (
        "shared/core/geo.py",
        "services/locations/locations_service/main.py",
        "services/locations:deps",
        "services/locations:image",
    )


def test_several_changes_take_the_shortest_chain():
    r = run("shared/core/geo.py", "services/locations/Dockerfile")
    assert r.chains["locations"] == (
        "services/locations/Dockerfile",
        "services/locations:image",
    )


# -- rule 5: deleted and renamed files are looked up at the merge-base -----------------


def test_deleted_module_affects_its_users_at_the_merge_base():
    gone = "shared/core/old_geo.py"
    base = repo_graph(
        [
            shared(gone),
            *service("locations", [gone], extra=["services/locations:points"]),
        ]
    )
    r = run(Change(gone, "deleted"), base=base)
    assert r.include == ("locations",)
    assert r.chains["locations"][0] == f"{gone} (deleted)"
    assert r.chains["locations"][-1] == "(graph at the merge-base)"


def test_rename_is_a_deletion_plus_an_addition():
    old, new = "shared/core/old.py", "shared/core/categories.py"
    base = repo_graph([shared(old), *service("auth", [old])])
    r = run(Change(old, "deleted", new), Change(new, "added", old), base=base)
    assert r.include == ("auth", "waste")  # auth used the old name, waste the new one
    assert r.chains["auth"][0] == f"{old} (renamed to {new})"


def test_deleted_build_file_uses_the_targets_it_declared():
    r = run(Change("services/waste/BUILD", "deleted"), base=HEAD)
    assert r.include == ("waste",)


def test_a_removed_service_is_not_listed():
    r = run(
        Change("services/waste/waste_service/main.py", "deleted"),
        base=HEAD,
        services=("auth", "locations"),
    )
    assert r.include == ()
    assert any("no longer exists" in n for n in r.notes)


# -- rule 6: deployment configuration ------------------------------------------------

COMPOSE = """
x-http: &http
  restart: unless-stopped
services:
  auth: {<<: *http, image: "${AUTH_IMAGE}"}
  waste: {<<: *http, image: "${WASTE_IMAGE}"}
  waste-worker: {image: "${WASTE_IMAGE}", command: [worker]}
  proxy: {image: "${PROXY_IMAGE}"}
"""


@pytest.mark.parametrize(
    "head, deploy_only",
    [
        pytest.param(
            COMPOSE.replace("[worker]", "[worker, -v]"), ["waste"], id="by-image"
        ),
        pytest.param(
            COMPOSE.replace("unless-stopped", "always"), ["auth", "waste"], id="anchor"
        ),
        pytest.param(
            COMPOSE + "networks: {a: {}}\n", ["auth", "waste"], id="top-level"
        ),
        pytest.param(COMPOSE.replace("PROXY_IMAGE}", "PROXY_IMAGE}x"), [], id="proxy"),
        pytest.param("services: [", list(SERVICES), id="unreadable"),
    ],
)
def test_compose_changes_are_deploy_only(head, deploy_only):
    path = "gitops/environments/prod/compose.yaml"
    r = run(path, texts={path: (COMPOSE, head)})
    assert (r.include, list(r.deploy_only)) == ((), deploy_only)
    assert "deploy" in r.no_effect[path]


def test_manifest_entry_change_is_deploy_only_unless_the_image_changes_too():
    path = "gitops/versions/staging.json"
    old = {
        "environment": "staging",
        "services": {"auth": {"replicas": 2}, "waste": {"r": 1}},
    }
    new = json.loads(json.dumps(old))
    new["services"]["auth"]["replicas"] = 3
    new["services"]["waste"]["r"] = 2
    texts = {path: (json.dumps(old), json.dumps(new))}
    r = run(path, "services/waste/Dockerfile", texts=texts)
    assert (r.include, r.deploy_only) == (("waste",), ("auth",))


def test_graph_is_needed_only_when_a_rule_asks_for_it():
    ci = [Change(".github/workflows/ci.yml", "modified")]
    deploy = [Change("gitops/versions/prod.json", "modified")]
    assert not affected.needs_graph(ci + deploy)
    assert affected.needs_graph([Change("pants.toml", "modified")])
    assert not affected.needs_base_graph([Change("README.md", "modified")])
    assert affected.needs_base_graph([Change("shared/x.py", "deleted")])
    assert not affected.needs_base_graph([Change(".github/x.yml", "deleted")])


@pytest.mark.parametrize(
    "modules, hit",
    [
        (["core.geo"], True),
        (["core.geo.Point"], True),  # a name imported from the module
        (["core.geo", "core.gone"], False),  # core.gone was never there
        (["geo"], True),  # source roots are unknown: any root matches
        (["core.geometry"], False),
        (["pkg"], True),  # a package: its __init__.py was deleted
        ([], False),
    ],
)
def test_imports_are_matched_to_the_modules_the_change_deleted(modules, hit):
    changes = [
        Change("shared/core/geo.py", "deleted"),
        Change("shared/pkg/__init__.py", "deleted"),
        Change("shared/core/categories.py", "modified"),
    ]
    assert affected.deleted_modules_imported(changes, modules) is hit


def test_content_is_read_only_for_lockfiles_requirements_and_deploy_files():
    changes = tuple(
        Change(p, "modified")
        for p in (LOCK, REQS, "gitops/compose.base.yaml", "shared/core/geo.py")
    )
    wanted = affected.content_paths(
        Inputs(changes=changes, services=SERVICES, head=HEAD)
    )
    assert wanted == {LOCK, REQS, "gitops/compose.base.yaml"}


# -- rendering ----------------------------------------------------------------------


def test_matrix_format():
    r = run("shared/core/geo.py", "services/waste/tests/test_waste.py")
    assert affected_render.to_matrix(r) == {
        "include": [
            {"service": "locations", "image_target": "services/locations:image"}
        ],
        "deploy_only": [],
        "test_only": ["waste"],
        "other_images": [],
    }
    assert affected_render.to_matrix(run())["include"] == []
    assert "explain" in affected_render.to_matrix(r, explain=True)


def test_explain_lines_cover_every_changed_path():
    r = run("shared/core/geo.py", "README.md", "services/waste/tests/test_waste.py")
    text = "\n".join(affected_render.explain_lines(r))
    assert "locations: shared/core/geo.py → " in text
    assert "README.md: documentation" in text
    assert "test only" in text and "waste" in text
    assert affected_render.explain_lines(run()) == ["affected services: none"]


@pytest.mark.parametrize(
    "path, pattern, hit",
    [
        ("BUILD", "BUILD", True),
        ("services/x/BUILD", "BUILD", False),
        ("pants.ci.toml", "pants.*.toml", True),
        ("build-support/base-image/a/b", "build-support/base-image/**", True),
        ("build-support/base-image-2/x", "build-support/base-image/**", False),
    ],
)
def test_global_patterns_are_anchored(path, pattern, hit):
    assert affected.matches(path, pattern) is hit
