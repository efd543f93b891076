import shutil
from pathlib import Path

import pytest

from release.base.errors import ConfigError
from release.base.layout import ROOT
from release.devenv import scaffold
from release.devenv.scaffold import ScaffoldError

COMPOSE = (ROOT / scaffold.COMPOSE_FILE).read_text()
HAPROXY = (ROOT / scaffold.PROXY_CONFIG).read_text()
TAKEN = {"waste": "a service", "common": "a shared package", "proxy": "the proxy"}


def without(text: str, *parts: str) -> str:
    for part in parts:
        assert part in text
        text = text.replace(part, "", 1)
    return text


# -- names ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["billing", "a", "v2", "x" * 30])
def test_valid_names(name):
    assert scaffold.check_name(name, TAKEN) == name


@pytest.mark.parametrize(
    "name",
    ["", "Billing", "bill-ing", "bill_ing", "2fa", "bill ing", "café", "x" * 31],
)
def test_names_that_are_not_a_package_and_host_name(name):
    with pytest.raises(ScaffoldError, match="invalid service name") as e:
        scaffold.check_name(name, TAKEN)
    assert e.value.exit_code == 2
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("name", ["class", "import", "lambda"])
def test_python_keywords(name):
    with pytest.raises(ScaffoldError, match="a Python keyword"):
        scaffold.check_name(name, TAKEN)


@pytest.mark.parametrize("name", ["waste", "common", "proxy"])
def test_taken_names_say_by_what(name):
    with pytest.raises(ScaffoldError, match=f"'{name}' is taken: {TAKEN[name]}"):
        scaffold.check_name(name, TAKEN)


def test_services_shared_packages_compose_and_proxy_names_are_taken(repo):
    taken = scaffold.taken_names(repo)
    assert taken["waste"] == "a service (services/waste)"
    assert taken["common"] == "a shared package (shared/common)"
    assert taken["proxy"].startswith("the proxy")
    assert taken["recycling"] == f"a service in {scaffold.COMPOSE_FILE}"
    assert taken["waste-worker"] == f"a service in {scaffold.COMPOSE_FILE}"
    assert {"stats", "http", "not_found", "docker"} <= set(taken)


# -- the Compose and HAProxy edits ----------------------------------------------------


def test_compose_entry_is_shaped_like_the_others():
    """Removing the last HTTP service, then adding it back, gives the file unchanged."""
    bare = without(
        COMPOSE, scaffold.compose_entry("locations"), "  locations-data: {}\n"
    )
    assert "locations" not in bare
    assert scaffold.add_compose_service(bare, "locations") == COMPOSE


def test_compose_edit_only_adds_lines():
    new = scaffold.add_compose_service(COMPOSE, "billing")
    assert without(new, scaffold.compose_entry("billing"), "  billing-data: {}\n") == (
        COMPOSE
    )
    assert "image: ${BILLING_IMAGE:?BILLING_IMAGE is set by ./inv}" in new
    assert new.index("  billing:") < new.index("  proxy:")
    assert new.rstrip().endswith("  billing-data: {}")


def test_compose_edit_refuses_an_existing_entry_or_volume():
    with pytest.raises(ScaffoldError, match="already has an entry for 'waste'"):
        scaffold.add_compose_service(COMPOSE, "waste")
    with pytest.raises(ScaffoldError, match="already has an entry for 'old'"):
        scaffold.add_compose_service(COMPOSE + "  old-data: {}\n", "old")


def test_compose_edit_needs_the_proxy_entry_to_insert_before():
    with pytest.raises(ConfigError, match="no line 'proxy:'"):
        scaffold.add_compose_service("services:\n  a:\n    image: x\n", "billing")


def test_proxy_route_is_shaped_like_the_others():
    bare = without(
        HAPROXY,
        scaffold.proxy_route("locations"),
        scaffold.proxy_backend("locations"),
    )
    assert "locations" not in bare
    assert scaffold.add_proxy_route(bare, "locations") == HAPROXY


def test_proxy_edit_puts_route_before_default_and_backend_before_not_found():
    new = scaffold.add_proxy_route(HAPROXY, "billing")
    route = new.index("use_backend billing if { path_beg /billing/ }")
    assert route < new.index("default_backend not_found")
    assert new.index("\nbackend billing\n") < new.index("\nbackend not_found\n")
    assert "server-template billing 10 billing:8000" in new


def test_proxy_edit_refuses_an_existing_route():
    with pytest.raises(ScaffoldError, match="already routes 'auth'"):
        scaffold.add_proxy_route(HAPROXY, "auth")


# -- rendering and applying -----------------------------------------------------------


def test_every_template_renders_under_the_service_folder():
    files = scaffold.render_files("billing", scaffold.read_templates())
    assert {
        "services/billing/BUILD",
        "services/billing/billing_service/__init__.py",
        "services/billing/billing_service/main.py",
        "services/billing/billing_service/cli.py",
        "services/billing/billing_service/version.py",
        "services/billing/tests/test_billing_api.py",
    } <= set(files)
    assert files["services/billing/BUILD"] == (
        'ecotrack_service(service="billing", '
        'entry_point="billing_service.cli:main")\n'
    )
    text = "".join(files.values())
    assert "${" not in text and "NAME" not in "".join(files)
    assert "create_base_app(" in files["services/billing/billing_service/main.py"]


@pytest.fixture
def repo(tmp_path) -> Path:
    """The files a scaffold reads and edits, copied from this repository."""
    for rel in (scaffold.COMPOSE_FILE, scaffold.PROXY_CONFIG):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    for name in ("waste", "auth"):
        (tmp_path / "services" / name).mkdir(parents=True)
    (tmp_path / "shared" / "common").mkdir(parents=True)
    return tmp_path


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_plan_then_apply_writes_files_and_edits(repo):
    templates = {"NAME_service/version.py": 'NAME = "${name}"\n'}
    plan = scaffold.plan("billing", repo, templates)
    scaffold.apply(plan, repo)
    version = repo / "services/billing/billing_service/version.py"
    assert version.read_text() == 'NAME = "billing"\n'
    assert "ecotrack_service(" in (repo / "services/billing/BUILD").read_text()
    assert "  billing:" in (repo / scaffold.COMPOSE_FILE).read_text()
    assert "backend billing" in (repo / scaffold.PROXY_CONFIG).read_text()


@pytest.mark.parametrize("name", ["waste", "common", "Bad", "stats"])
def test_a_refused_name_changes_nothing(repo, name):
    before = snapshot(repo)
    with pytest.raises(ScaffoldError):
        scaffold.plan(name, repo, {"tests/test_x.py": "x\n"})
    assert snapshot(repo) == before


def test_a_second_scaffold_of_the_same_name_is_refused(repo):
    templates = {"tests/test_x.py": "x\n"}
    scaffold.apply(scaffold.plan("billing", repo, templates), repo)
    before = snapshot(repo)
    with pytest.raises(ScaffoldError, match="'billing' is taken"):
        scaffold.plan("billing", repo, templates)
    assert snapshot(repo) == before


def test_a_leftover_compose_entry_is_refused_before_any_file_is_written(repo):
    compose = repo / scaffold.COMPOSE_FILE
    compose.write_text(compose.read_text() + "  billing-data: {}\n")
    before = snapshot(repo)
    with pytest.raises(ScaffoldError, match="already has an entry for 'billing'"):
        scaffold.plan("billing", repo, {"tests/test_x.py": "x\n"})
    assert snapshot(repo) == before


@pytest.mark.parametrize("name", ["b", "x" * 30])
def test_rendered_code_fits_black_and_flake8_columns_for_any_name_length(name):
    for path, text in scaffold.render_files(name, scaffold.read_templates()).items():
        if path.endswith(".py"):
            assert max(map(len, text.splitlines()), default=0) <= 88, path
