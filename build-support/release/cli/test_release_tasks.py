"""The release tasks through invoke's own parser (required --env, one --service), and
the --json documents of record, history and doctor. Nothing here needs Docker."""

import json
import subprocess

import pytest
from invoke import Collection, Program

from release.cli import doctor
from release.cli import history as history_cmd
from release.cli.tasks import release, stack
from release.gitops import records
from release.gitops import store as manifest_store
from release.machine import bootstrap

TASKS = Collection(
    release.record, release.promote, release.history, release.rollback, stack.doctor
)


def inv(capsys, *argv: str) -> tuple[int, list[str]]:
    """Runs `./inv ARGV` in this process: the exit code and stderr's lines."""
    with pytest.raises(SystemExit) as exit_:
        Program(namespace=TASKS, binary="inv").run(["inv", *argv])
    return exit_.value.code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize(
    "argv, message",
    [
        pytest.param(
            ["record", "records/"],
            "--env is required: the manifest to record in (staging, prod or local)",
            id="record",
        ),
        pytest.param(
            ["promote", "--from", "staging", "--dry-run"],
            "--env is required: the environment to promote into, e.g. --env prod",
            id="promote",
        ),
        pytest.param(
            ["rollback", "--service", "waste", "--dry-run"],
            "--env is required: the environment to roll back, e.g. --env prod",
            id="rollback",
        ),
        pytest.param(
            ["rollback", "--env", "prod", "-s", "waste", "-s", "auth", "--dry-run"],
            "rollback takes one --service at a time, not waste, auth",
            id="rollback-two-services",
        ),
        pytest.param(
            ["promote", "--from", "staging", "--env", "staging", "--dry-run"],
            "--from and --env are both staging",
            id="promote-into-its-source",
        ),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(capsys, argv, message):
    code, lines = inv(capsys, *argv)
    assert code == 2
    assert len(lines) == 1 and lines[0] == f"error: {message}"


# -- a scratch repository ------------------------------------------------------------


def git(root, *args) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()


def entry(service: str, n: int) -> dict:
    return {
        "image": f"127.0.0.1:5000/ecotrack/{service}:main-{n:07x}@sha256:{n:064x}",
        "version": f"1.{n}.0",
        "git_sha": f"{n:07x}",
        "deployed_at": "2026-11-28T22:00:00Z",
        "deployed_by": "ci",
        "replicas": 2,
        "feature_flags": {},
    }


def release_to(root, env: str, services: dict) -> str:
    path = manifest_store.manifest_path(env, root)
    path.write_text(json.dumps({"environment": env, "services": services}) + "\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", f"release({env})")
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    for name in ("auth", "users", "waste"):
        (root / "services" / name).mkdir(parents=True)
        (root / "services" / name / "BUILD").write_text(
            f'ecotrack_service(service="{name}", entry_point="x")\n'
        )
    (root / "gitops" / "versions").mkdir(parents=True)
    git(tmp_path, "init", "-q", "-b", "main", str(root))
    git(root, "config", "user.name", "t")
    git(root, "config", "user.email", "t@example.invalid")
    release_to(root, "staging", {})
    return root


def test_history_with_two_services_shows_either(repo, capsys):
    release_to(repo, "staging", {"auth": entry("auth", 1)})
    release_to(repo, "staging", {"auth": entry("auth", 1), "users": entry("users", 2)})
    release_to(
        repo,
        "staging",
        {
            "auth": entry("auth", 1),
            "users": entry("users", 2),
            "waste": entry("waste", 3),
        },
    )
    rep = history_cmd.report("staging", ["waste", "auth"], root=repo)
    assert [(e.service, e.to_version) for e in rep.events] == [
        ("waste", "1.3.0"),
        ("auth", "1.1.0"),
    ]
    history_cmd.render(rep, as_json=True)
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"environments", "services", "events", "notes"}
    assert (data["environments"], data["services"]) == (["staging"], ["auth", "waste"])
    assert [e["service"] for e in data["events"]] == ["waste", "auth"]


def test_record_json_says_what_was_recorded_skipped_and_the_commit(
    repo, tmp_path, capsys
):
    head = git(repo, "rev-parse", "HEAD")
    rec = records.ReleaseRecord(
        env="staging",
        service="waste",
        version="1.3.0",
        tag=f"main-{head[:7]}",
        image=f"127.0.0.1:5000/ecotrack/waste:main-{head[:7]}@sha256:{'1' * 64}",
        digest=f"sha256:{'1' * 64}",
        git_sha=head,
        published_at="2026-11-28T22:00:00Z",
        published_by="octocat (ci)",
    )
    records.write([rec], tmp_path / "records")
    first = records.record_releases(tmp_path / "records", "staging", repo)
    records.render(first, as_json=True)
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"env", "manifest", "commit", "recorded", "skipped"}
    assert data["commit"] == git(repo, "rev-parse", "HEAD")
    assert [r["service"] for r in data["recorded"]] == ["waste"]
    assert set(data["recorded"][0]) == set(rec.to_dict()) - {"format"}

    again = records.record_releases(tmp_path / "records", "staging", repo)
    records.render(again, as_json=True)
    data = json.loads(capsys.readouterr().out)
    assert (data["commit"], data["recorded"]) == (None, [])
    assert [(r["service"], r["reason"]) for r in data["skipped"]] == [
        ("waste", "already recorded")
    ]


@pytest.mark.parametrize(
    "plan, code",
    [
        pytest.param(
            bootstrap.Plan(rows=(bootstrap.Row("docker", "found", "28.0"),)),
            0,
            id="ready",
        ),
        pytest.param(
            bootstrap.Plan(
                start_dockerd=True,
                problems=("install skopeo by hand",),
                rows=(bootstrap.Row("docker", "will start", "dockerd"),),
            ),
            1,
            id="not-ready",
        ),
    ],
)
def test_doctor_json_has_the_tables_checks(capsys, plan, code):
    assert doctor.render("test", plan, as_json=True) == code
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"profile", "ready", "checks", "will_do", "problems"}
    assert data["ready"] is (code == 0)
    assert data["checks"] == [
        {"need": r.need, "state": r.state, "detail": r.detail} for r in plan.rows
    ]
    assert data["problems"] == list(plan.problems)
    assert len(data["will_do"]) == len(bootstrap.steps(plan))
