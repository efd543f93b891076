"""The bootstrap planner: machine facts in, steps out (no machine touched)."""

import pytest

from release.machine import bootstrap as b

EVERYTHING = frozenset(proof for proof, _, _ in b.NEEDS.values())
XDG = "/etc/xdg/pip/pip.conf"


def facts(**kw) -> b.Facts:
    base = dict(root=True, debian=True, present=EVERYTHING, engine_answers=True)
    return b.Facts(**(base | kw))


def test_a_ready_machine_needs_nothing():
    p = b.plan(facts(), b.TEST)
    assert p.ready and b.steps(p) == []
    assert {r.state for r in p.rows} == {"found"}


def test_a_fresh_debian_machine_as_root_gets_one_install_and_every_fix():
    fresh = facts(
        present=frozenset({"node", "npm"}),
        engine_answers=False,
        pip_constraints=(XDG,),
    )
    p = b.plan(fresh, b.TEST)
    assert p.install == (
        "docker.io",
        "debootstrap",
        "docker-registry",
        "iproute2",
        "openssh-server",
        "haproxy",
        "chromium",
        "sudo",
        "acl",
        "openssl",
    )
    assert p.remove_pip_config and p.start_dockerd and not p.problems
    assert [a for a, _ in b.steps(p)] == [
        "remove_pip_config",
        "install",
        "start_dockerd",
    ]
    assert "apt-get install -y docker.io debootstrap" in b.steps(p)[1][1]


@pytest.mark.parametrize(
    "profile, packages",
    [
        pytest.param(b.PANTS, (), id="pants"),
        pytest.param(b.ENGINE, ("docker.io",), id="engine"),
        pytest.param(b.UP, ("docker.io", "debootstrap", "docker-registry"), id="up"),
        pytest.param(
            b.FLEET, ("docker.io", "iproute2", "openssh-server", "haproxy"), id="fleet"
        ),
        pytest.param(b.LINT, ("nodejs", "npm"), id="lint"),
        pytest.param(
            b.BENCH,
            ("docker.io", "debootstrap", "docker-registry", "iproute2")
            + ("openssh-server", "haproxy", "hey"),
            id="bench",
        ),
    ],
)
def test_each_profile_installs_only_what_it_needs(profile, packages):
    p = b.plan(facts(present=frozenset(), engine_answers=False), profile)
    assert p.install == packages


def test_not_root_gets_the_exact_instruction_instead():
    p = b.plan(facts(root=False, present=EVERYTHING - {"debootstrap"}), b.UP)
    assert not p.install
    assert p.problems == (
        "debootstrap is missing (builds the base image locally): "
        "sudo apt-get install -y debootstrap",
    )


def test_a_user_with_passwordless_sudo_installs_fixes_and_starts_through_it():
    p = b.plan(
        facts(
            root=False,
            sudo=True,
            present=EVERYTHING - {"debootstrap"},
            engine_answers=False,
            pip_constraints=(XDG,),
        ),
        b.UP,
    )
    assert p.sudo and p.install == ("debootstrap",) and not p.problems
    assert p.remove_pip_config and p.start_dockerd
    assert [a for a, _ in b.steps(p)] == [
        "sudo",
        "remove_pip_config",
        "install",
        "start_dockerd",
    ]


def test_not_debian_names_the_package_without_apt():
    p = b.plan(facts(debian=False, present=frozenset({"dockerd"})), b.BUILD)
    assert p.problems == (
        "debootstrap is missing (builds the base image locally): install it with "
        "your system's packages",
    )


def test_a_stopped_engine_is_started_after_a_stale_pid_file_is_cleared():
    p = b.plan(facts(engine_answers=False, stale_pid_file=True), b.ENGINE)
    assert p.start_dockerd and p.clear_stale_pid and not p.install


def test_a_running_dockerd_that_does_not_answer_is_not_restarted():
    p = b.plan(facts(engine_answers=False, dockerd_running=True), b.ENGINE)
    assert not p.start_dockerd and "does not answer" in p.problems[0]


def test_a_remote_docker_host_is_never_installed_or_started():
    p = b.plan(
        facts(present=frozenset(), engine_answers=False, docker_host="ssh://h"),
        b.ENGINE,
    )
    assert not p.install and not p.start_dockerd
    assert "DOCKER_HOST=ssh://h does not answer" in p.problems[0]


def test_the_pip_constraint_is_removed_as_root_and_named_otherwise():
    assert b.plan(facts(pip_constraints=(XDG,)), b.PANTS).remove_pip_config
    as_user = b.plan(facts(root=False, pip_constraints=(XDG,)), b.PANTS)
    assert not as_user.remove_pip_config
    assert as_user.problems[0].endswith("sudo rm -r /etc/xdg/pip")


def test_a_constraint_in_a_file_we_do_not_own_is_left_alone_and_named():
    p = b.plan(facts(pip_constraints=("/root/.config/pip/pip.conf",)), b.PANTS)
    assert not p.remove_pip_config
    assert p.problems[0].startswith("/root/.config/pip/pip.conf sets a pip")


def test_doctor_rows_say_what_will_happen():
    chromium = b.NEEDS["chromium"][0]
    p = b.plan(facts(present=EVERYTHING - {chromium}, pip_constraints=(XDG,)), b.TEST)
    states = {r.need: r.state for r in p.rows}
    assert states["chromium"] == "will install"
    assert states["pip"] == "will fix"
    assert states["docker"] == "found"
