import pytest

from release.base import layout
from release.base.errors import UsageError


@pytest.fixture
def repo(tmp_path):
    for name in ("waste", "auth"):
        (tmp_path / "services" / name).mkdir(parents=True)
        (tmp_path / "services" / name / "BUILD").write_text(
            f'ecotrack_service(service="{name}", entry_point="x")\n'
        )
    (tmp_path / "services" / "notes").mkdir()
    (tmp_path / "services" / "scripts").mkdir()
    (tmp_path / "services" / "scripts" / "BUILD").write_text("python_sources()\n")
    return tmp_path


def test_services_are_the_folders_whose_build_declares_one(repo):
    assert [s.name for s in layout.services(repo)] == ["auth", "waste"]


def test_select_unknown_service_names_the_known_ones(repo):
    with pytest.raises(
        UsageError, match=r"unknown service nope \(known: auth, waste\)"
    ):
        layout.select_services(["nope"], repo)


def test_select_none_means_all_and_names_are_deduplicated(repo):
    assert len(layout.select_services(None, repo)) == 2
    names = [s.name for s in layout.select_services(["waste", "waste"], repo)]
    assert names == ["waste"]


@pytest.mark.parametrize(
    "service, target, repository",
    [pytest.param("waste", "services/waste:image", "ecotrack/waste", id="waste")],
)
def test_one_place_names_targets_and_repositories(service, target, repository):
    s = layout.Service(service)
    assert (s.image_target, s.repository) == (target, repository)
    assert layout.image_ref(service, "sha-1") == f"{repository}:sha-1"


def test_unknown_environment():
    with pytest.raises(UsageError, match="unknown environment 'moon'"):
        layout.check_env("moon")
