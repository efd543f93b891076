"""The `record` job of ci.yml (the fan-in after the service jobs), run step by step
on clones of a bare remote standing in for GitHub: the release records land on main
as one commit, also when main moves on meanwhile and when two runs race, it gives up
after its bounded retries, and it refuses bad records, pushing nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from testing.ci_steps import ci_job, run_step
from testing.scenario_repo import GIT_ID, ScenarioRepo, link_tooling_venv


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    with ScenarioRepo.for_tests(tmp_path_factory, "record") as r:
        yield r


RECORD_FORMAT = "ecotrack-release-record/1"
STAGING = "gitops/versions/staging.json"


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    r = subprocess.run(
        ["git", *GIT_ID, *args], cwd=cwd, capture_output=True, text=True, env=env
    )
    assert r.returncode == 0, f"git {' '.join(args)}: {r.stderr}"
    return r.stdout.strip()


@pytest.fixture
def remote(repo, tmp_path) -> Path:
    """A bare repository standing in for GitHub, its main the scratch repo's base."""
    path = tmp_path / "origin.git"
    git(
        tmp_path, "clone", "-q", "--bare", "--branch", "main", str(repo.path), str(path)
    )
    return path


def checkout(remote: Path, dest: Path) -> Path:
    """What actions/checkout leaves: a clone of main (plus the tooling venv)."""
    git(remote.parent, "clone", "-q", str(remote), str(dest))
    link_tooling_venv(dest)
    return dest


def main_of(remote: Path) -> str:
    return git(remote, "rev-parse", "main")


def release_record(service: str, sha: str, digit: str) -> dict:
    """A record as `./inv publish --release-out` writes it (the documented format)."""
    tag, digest = f"main-{sha[:7]}", "sha256:" + digit * 64
    return {
        "format": RECORD_FORMAT,
        "env": "staging",
        "service": service,
        "version": "1.0.0",
        "tag": tag,
        "image": f"127.0.0.1:5000/ecotrack/{service}:{tag}@{digest}",
        "digest": digest,
        "git_sha": sha,
        "published_at": "2026-11-28T22:00:00Z",
        "published_by": "ci-bot (ci)",
    }


def runner_temp(tmp: Path, *records: dict) -> Path:
    """RUNNER_TEMP after download-artifact (merge-multiple): releases/<service>.json."""
    tmp.mkdir(parents=True)
    for rec in records:
        (tmp / "releases").mkdir(exist_ok=True)
        (tmp / "releases" / f"{rec['service']}.json").write_text(json.dumps(rec))
    return tmp


def run_record_job(
    clone: Path, repo: ScenarioRepo, tmp: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Every `run:` step of the record job in order, in `clone`; stops at the first
    that fails and returns it (else the last)."""
    context = {"runner.temp": str(tmp)}
    for step in ci_job(clone, "record")["steps"]:
        if "run" not in step:
            continue
        r, _ = run_step(step, clone, {**repo.env, **(env or {})}, context, tmp)
        if r.returncode != 0:
            break
    return r


def staging_on(remote: Path) -> dict:
    text = git(remote, "show", f"main:{STAGING}")
    return {n: e["image"] for n, e in json.loads(text)["services"].items()}


def history(remote: Path, since: str) -> list[str]:
    """Subjects of main's commits after `since`, oldest first; merges fail the test."""
    assert git(remote, "rev-list", "--merges", f"{since}..main") == ""
    return git(remote, "log", "--reverse", "--format=%s", f"{since}..main").splitlines()


def test_record_job_pushes_the_records_as_one_commit(repo, remote, tmp_path):
    base = main_of(remote)
    waste, auth = release_record("waste", base, "1"), release_record("auth", base, "2")
    tmp = runner_temp(tmp_path / "run", waste, auth)
    r = run_record_job(checkout(remote, tmp_path / "a"), repo, tmp)
    assert r.returncode == 0, r.stdout + r.stderr
    assert staging_on(remote) == {"auth": auth["image"], "waste": waste["image"]}
    assert history(remote, base) == [
        f"release(staging): auth 1.0.0 main-{base[:7]}, waste 1.0.0 main-{base[:7]}"
    ]
    assert git(remote, "show", "--format=", "--name-only", "main") == STAGING

    # The same records again (a re-run of the job): nothing to commit or push.
    again = run_record_job(checkout(remote, tmp_path / "b"), repo, tmp)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing to push" in again.stdout
    assert len(history(remote, base)) == 1


def test_record_job_records_again_on_top_of_a_main_that_moved(repo, remote, tmp_path):
    base = main_of(remote)
    stale = checkout(remote, tmp_path / "runner")
    other = checkout(remote, tmp_path / "someone")
    (other / "README.md").write_text("pushed while CI ran\n")
    git(other, "commit", "-qam", "docs: meanwhile")
    git(other, "push", "-q", "origin", "main")

    waste = release_record("waste", base, "3")
    r = run_record_job(stale, repo, runner_temp(tmp_path / "run", waste))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[rejected]" in r.stderr and "attempt 2 of 5" in r.stdout
    assert staging_on(remote) == {"waste": waste["image"]}
    assert history(remote, base) == [
        "docs: meanwhile",
        f"release(staging): waste 1.0.0 main-{base[:7]}",
    ]


def test_two_record_jobs_racing_both_land(repo, remote, tmp_path):
    base = main_of(remote)
    runs = {
        "waste": release_record("waste", base, "4"),
        "users": release_record("users", base, "5"),
    }
    jobs = [
        (checkout(remote, tmp_path / name), runner_temp(tmp_path / f"run-{name}", rec))
        for name, rec in runs.items()
    ]
    with ThreadPoolExecutor(len(jobs)) as pool:
        results = list(pool.map(lambda j: run_record_job(j[0], repo, j[1]), jobs))
    for r in results:
        assert r.returncode == 0, r.stdout + r.stderr
    # Both checkouts start at the same commit, so whichever pushes second is rejected.
    assert any("attempt 2 of 5" in r.stdout for r in results)
    assert staging_on(remote) == {n: rec["image"] for n, rec in runs.items()}
    assert sorted(history(remote, base)) == [
        f"release(staging): users 1.0.0 main-{base[:7]}",
        f"release(staging): waste 1.0.0 main-{base[:7]}",
    ]


BUSY_MAIN_GIT = """\
#!/bin/sh
# git, except that someone else pushes to main just before each of our pushes.
if [ "$1" = "push" ]; then
  "$REAL_GIT" -C "$SOMEONE" fetch -q origin main &&
  "$REAL_GIT" -C "$SOMEONE" reset -q --hard origin/main &&
  "$REAL_GIT" -C "$SOMEONE" -c user.name=x -c user.email=x@x.invalid \\
    commit -q --allow-empty -m "someone else" &&
  "$REAL_GIT" -C "$SOMEONE" push -q origin HEAD:main || exit 99
fi
exec "$REAL_GIT" "$@"
"""


def test_record_job_gives_up_when_main_keeps_moving(repo, remote, tmp_path):
    base = main_of(remote)
    shim = tmp_path / "bin" / "git"
    shim.parent.mkdir()
    shim.write_text(textwrap.dedent(BUSY_MAIN_GIT))
    shim.chmod(0o755)
    env = {
        "PATH": f"{shim.parent}{os.pathsep}{repo.env['PATH']}",
        "REAL_GIT": shutil.which("git"),
        "SOMEONE": str(checkout(remote, tmp_path / "someone")),
    }
    waste = release_record("waste", base, "6")
    tmp = runner_temp(tmp_path / "run", waste)
    r = run_record_job(checkout(remote, tmp_path / "runner"), repo, tmp, env)
    assert r.returncode != 0
    assert "gave up after 5 attempts" in r.stdout
    assert "waste" not in staging_on(remote)
    assert history(remote, base) == ["someone else"] * 5


def test_record_job_refuses_a_bad_record_and_pushes_nothing(repo, remote, tmp_path):
    base = main_of(remote)
    bad = dict(release_record("waste", base, "7"), digest="sha256:" + "8" * 64)
    r = run_record_job(
        checkout(remote, tmp_path / "a"), repo, runner_temp(tmp_path / "run", bad)
    )
    assert r.returncode != 0
    assert "waste.json: image" in r.stderr and "does not match" in r.stderr
    assert main_of(remote) == base


def test_record_job_refuses_a_record_of_an_unknown_service(repo, remote, tmp_path):
    base = main_of(remote)
    unknown = release_record("billing", base, "7")
    r = run_record_job(
        checkout(remote, tmp_path / "a"), repo, runner_temp(tmp_path / "run", unknown)
    )
    assert r.returncode != 0
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "unknown service 'billing'" in errors[0], r.stderr
    assert main_of(remote) == base


# -- the remote cache credential (issue 12) ------------------------------------------
