"""The ./inv entry point as a user runs it: help, and one-line errors on bad input."""

from __future__ import annotations

from pathlib import Path

from testing.commands import inv

ROOT = Path(__file__).resolve().parents[1]


def test_list_explains_every_task():
    r = inv("--list")
    assert r.returncode == 0
    for name in ("up", "down", "test", "lint", "doctor"):
        assert f"  {name} " in r.stdout


def test_help_of_up_names_what_it_bootstraps():
    r = inv("--help", "up")
    assert r.returncode == 0
    assert "debootstrap" in r.stdout and "--port" in r.stdout


def test_doctor_shows_the_probe_and_exits_0_when_ready():
    # `./inv test` bootstrapped the test profile before pytest started, so the
    # probe must find every need of that profile on this machine.
    r = inv("doctor", "--profile", "test")
    assert r.returncode == 0, r.stdout + r.stderr
    rows = [line for line in r.stdout.splitlines() if line.startswith("│")]
    needs = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in rows}
    for need in ("pip", "docker", "debootstrap", "registry", "sshd", "haproxy"):
        assert needs.get(need) == "found", (need, r.stdout)
    assert r.stdout.rstrip().endswith("ready")
    bad = inv("doctor", "--profile", "moon")
    assert bad.returncode == 2 and "unknown profile 'moon'" in bad.stderr


def test_bench_args_go_to_one_bench_and_unknown_benches_are_named():
    r = inv("bench", "loadgen,rollout", "--args=--rate 1")
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "error: --args goes to one bench: name exactly one"
    ]
    r = inv("bench", "moon")
    assert r.returncode == 2 and "error: unknown bench moon (" in r.stderr


def test_module_map_prints_the_generated_map():
    r = inv("module-map")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("<!-- module-map:begin")
    assert "| `targets/environment.py` | The Target factory" in r.stdout


def test_up_refuses_other_environments_with_the_commands_to_use():
    r = inv("up", "--env", "staging")
    assert r.returncode == 2
    assert "./inv publish --env staging and ./inv deploy --env staging" in r.stderr


def test_unknown_environment_is_one_line_and_non_zero():
    r = inv("up", "--env", "moon")
    assert r.returncode == 2
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert lines == ["error: unknown environment 'moon' (known: local, staging, prod)"]
    assert "Traceback" not in r.stdout + r.stderr


def test_manifest_that_is_not_utf8_is_one_line_and_non_zero(tmp_path):
    manifest = tmp_path / "staging.json"
    manifest.write_bytes(b"\xff\xfe\x00{")
    r = inv("deploy", "--env", "staging", "--dry-run", "--manifest", str(manifest))
    assert r.returncode == 1
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert lines == [
        f"error: {manifest}: not UTF-8 text (byte 0 is 0xff); manifests are UTF-8 JSON"
    ]
    assert "Traceback" not in r.stdout + r.stderr
