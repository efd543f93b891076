from release.adapters.compose import Compose
from release.base.layout import GITOPS
from release.cli.up import StackOptions, image_variables


def test_images_reach_compose_as_upper_case_variables():
    assert image_variables({"waste": "r/w:1", "waste-worker": "r/w:1"}) == {
        "WASTE_IMAGE": "r/w:1",
        "WASTE_WORKER_IMAGE": "r/w:1",
    }


def test_project_name_defaults_to_the_environment():
    assert StackOptions(env="staging").project_name == "ecotrack-staging"
    assert StackOptions(project="e2e").project_name == "e2e"


def test_compose_command_layers_the_environment_on_the_base():
    cmd = Compose(project="p", env="prod", variables={}, gitops=GITOPS).command("ps")
    assert cmd[1:3] == ["-p", "p"]
    files = [str(f) for f in GITOPS.compose_files("prod")]
    assert cmd[3:7] == ["-f", files[0], "-f", files[1]]
    assert files[0].endswith("gitops/compose.base.yaml")
    assert files[1].endswith("gitops/environments/prod/compose.yaml")
    assert cmd[-1] == "ps"
