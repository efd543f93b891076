"""The actions the workflow replay knows (testing/workflow_replay.py), each mapped to
a local equivalent, and the `gh` the runner's steps find on PATH.

- actions/checkout: a clone of the bare remote (a push checks out its branch);
- actions/setup-python: this machine's interpreter of that version, first on PATH;
- actions/cache: workspace paths restored by key and saved after a successful job
  (the runner account's home keeps `~` paths between jobs);
- actions/upload-artifact, download-artifact: a folder of the runner's;
- aws-actions/configure-aws-credentials: the job's OIDC role through STS, which is
  the runner's AWS stand-in (moto), and AWS_ENDPOINT_URL pointing at it;
- aws-actions/amazon-ecr-login: an ECR token, then `docker login` as the runner.

An action fails as GitHub's would (subprocess.CalledProcessError with its message);
what the replay cannot do raises ReplayError.
"""

from __future__ import annotations

import base64
import fnmatch
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from testing.workflow_expr import to_string

if TYPE_CHECKING:
    from testing.workflow_runner import Event, Runner


class ReplayError(Exception):
    """Something the replay cannot do as GitHub would: it stops, naming it."""


# GitHub's CLI, as far as the workflows use it: `gh pr create` records the pull
# request (base, head, title, body) for the test, which then merges it as GitHub's
# merge button would. Anything else fails loudly.
GH_STANDIN = """#!/usr/bin/env python3
import argparse, json, pathlib, sys
pulls = pathlib.Path("{pulls}")
if sys.argv[1:3] != ["pr", "create"]:
    sys.exit("gh stand-in: only `gh pr create` is replayed: " + " ".join(sys.argv[1:]))
p = argparse.ArgumentParser(prog="gh pr create")
for flag in ("--base", "--head", "--title", "--body"):
    p.add_argument(flag, required=True)
a = p.parse_args(sys.argv[3:])
n = len(list(pulls.glob("*.json"))) + 1
pulls.joinpath(f"{{n}}.json").write_text(json.dumps(dict(number=n, **vars(a))))
print(f"https://github.com/ecotrack/ecotrack/pull/{{n}}")
"""


@dataclass
class ActionCall:
    """One `uses:` step: what the action is given, and where it may add a step to
    run after the job (`post`, as actions/cache saves)."""

    runner: "Runner"
    event: "Event"
    run_id: str
    permissions: dict | None  # the job's (or the workflow's) `permissions:`
    job: str
    with_: dict
    env: dict
    workspace: Path
    temp: Path
    post: list = field(default_factory=list)


def _checkout(call: ActionCall):
    runner, event = call.runner, call.event
    env = {"PATH": os.environ["PATH"]}
    # As actions/checkout: an event on a branch (a push, a manual run) checks out
    # that branch at the event's commit; a pull request, a detached HEAD.
    branch = event.ref.removeprefix("refs/heads/")
    switch = (
        ["checkout", "-q", "-B", branch, event.sha]
        if event.ref.startswith("refs/heads/")
        else ["checkout", "-q", "--detach", event.sha]
    )
    for argv in (
        ["git", "clone", "-q", str(runner.remote), str(call.workspace)],
        ["git", "-C", str(call.workspace), *switch],
    ):
        subprocess.run(
            runner.command(argv, env),
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, **env},
        )
    if runner.prepare_checkout:
        runner.prepare_checkout(call.workspace)
    return {}, {}


def _setup_python(call: ActionCall):
    """The machine's interpreter of that version, first on PATH from then on (the
    action's toolcache: here the interpreters the tests name in Runner.python)."""
    version = to_string(call.with_.get("python-version"))
    python = call.runner.python.get(version) or shutil.which(f"python{version}")
    if not python:
        raise ReplayError(f"{call.job}: no Python {version} on this machine")
    if call.runner.user:
        call.runner.user.reach(Path(python))
    bin_dir = str(Path(python).parent)
    env = {"PATH": f"{bin_dir}:{call.env.get('PATH', '')}"}
    env["pythonLocation"] = str(Path(python).parent.parent)
    return {"python-version": version, "python-path": python}, env


def _cache(call: ActionCall):
    """actions/cache: paths in the workspace are restored by `key` (else the newest
    entry of a `restore-keys` prefix) and saved after the job succeeds, as GitHub's
    cache service does. Paths under ~ need neither: the runner account's home is
    kept from job to job, a runner that had a cache hit for every job."""
    store = call.runner.work / "cache"
    key = to_string(call.with_.get("key"))
    paths = [p.strip() for p in to_string(call.with_.get("path")).splitlines()]
    local = [p for p in paths if p and not p.startswith("~")]
    for p in local:
        if Path(p).is_absolute() or ".." in Path(p).parts:
            raise ReplayError(f"{call.job}: cache path {p} is outside the workspace")
    slot = store / re.sub(r"[^A-Za-z0-9._-]", "_", key)
    hit = slot if slot.is_dir() else None
    if hit is None:
        prefixes = to_string(call.with_.get("restore-keys") or "").splitlines()
        for prefix in filter(None, (x.strip() for x in prefixes)):
            slug = re.sub(r"[^A-Za-z0-9._-]", "_", prefix)
            found = sorted(
                (d for d in store.iterdir() if d.name.startswith(slug)),
                key=lambda d: d.stat().st_mtime,
            )
            if found:
                hit = found[-1]
                break
    if hit is not None:
        for p in local:
            if (hit / p).exists():
                subprocess.run(
                    ["cp", "-a", str(hit / p), str(call.workspace / p)], check=True
                )
        if call.runner.user:
            call.runner.user.own(
                *[call.workspace / p for p in local if (hit / p).exists()]
            )

    def save() -> None:
        if slot.is_dir():
            return  # a cache entry is never overwritten
        for p in local:
            if (call.workspace / p).exists():
                (slot / p).parent.mkdir(parents=True, exist_ok=True)
                subprocess.run(
                    ["cp", "-a", str(call.workspace / p), str(slot / p)], check=True
                )
        slot.mkdir(parents=True, exist_ok=True)

    call.post.append(save)
    return {"cache-hit": "true" if hit == slot else "false"}, {}


def _upload_artifact(call: ActionCall):
    name = to_string(call.with_.get("name") or "artifact")
    dest = call.runner.artifacts() / name
    sources = [
        Path(p) for p in to_string(call.with_.get("path")).splitlines() if p.strip()
    ]
    found = [p for p in sources if p.exists()]
    if not found:
        if to_string(call.with_.get("if-no-files-found") or "warn") == "error":
            raise subprocess.CalledProcessError(1, "upload", stderr="no files found")
        return {}, {}
    dest.mkdir(parents=True, exist_ok=True)
    for p in found:
        (shutil.copytree if p.is_dir() else shutil.copy2)(p, dest / p.name)
    return {}, {}


def _download_artifact(call: ActionCall):
    pattern = to_string(call.with_.get("pattern") or call.with_.get("name") or "*")
    dest = Path(to_string(call.with_.get("path") or call.workspace))
    merge = to_string(call.with_.get("merge-multiple")) == "true"
    for art in sorted(call.runner.artifacts().iterdir()):
        if not fnmatch.fnmatchcase(art.name, pattern):
            continue
        target = dest if merge else dest / art.name
        shutil.copytree(art, target, dirs_exist_ok=True)
    if dest.exists() and call.runner.user:
        call.runner.user.own(dest)  # the job's files are the runner's
    return {}, {}


def _aws_credentials(call: ActionCall):
    """aws-actions/configure-aws-credentials with an OIDC role: the job's OIDC token
    (it needs `id-token: write`) exchanged with STS for the role's short-lived
    credentials, then exported to the job. STS here is moto's (the runner's
    aws_endpoint), so AWS_ENDPOINT_URL points the job's AWS clients at it as well:
    the one line that differs from GitHub."""
    runner = call.runner
    if not runner.aws_endpoint:
        raise ReplayError(f"{call.job}: the runner has no AWS stand-in (aws_endpoint)")
    role = to_string(call.with_.get("role-to-assume"))
    region = to_string(call.with_.get("aws-region"))
    fail = subprocess.CalledProcessError
    if not region:
        raise fail(1, "configure-aws-credentials", stderr="Input required: aws-region")
    if (call.permissions or {}).get("id-token") != "write":
        raise fail(
            1,
            "configure-aws-credentials",
            stderr="Could not get an OIDC token: the job lacks `id-token: write`",
        )
    if not role:
        raise fail(1, "configure-aws-credentials", stderr="no role-to-assume given")
    sts = boto3.client(
        "sts",
        region_name=region,
        endpoint_url=runner.aws_endpoint,
        aws_access_key_id="unused",
        aws_secret_access_key="unused",
    )
    try:
        creds = sts.assume_role_with_web_identity(
            RoleArn=role,
            RoleSessionName="GitHubActions",
            WebIdentityToken=f"replay-oidc-token-{call.run_id}",
        )["Credentials"]
    except (BotoCoreError, ClientError) as exc:
        raise fail(1, "configure-aws-credentials", stderr=str(exc)) from None
    env = {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ENDPOINT_URL": runner.aws_endpoint,
    }
    account = role.split(":")[4] if role.count(":") >= 5 else ""
    return {"aws-account-id": account}, env


def _ecr_login(call: ActionCall):
    """aws-actions/amazon-ecr-login: an ECR authorization token for the job's AWS
    credentials, and `docker login` to the registry host it names (as the runner's
    account: its ~/.docker/config.json)."""
    env = call.env
    fail = subprocess.CalledProcessError
    if not env.get("AWS_ACCESS_KEY_ID"):
        raise fail(1, "amazon-ecr-login", stderr="Credentials could not be loaded")
    try:
        ecr = boto3.client(
            "ecr",
            region_name=env.get("AWS_REGION"),
            endpoint_url=env.get("AWS_ENDPOINT_URL"),
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=env.get("AWS_SESSION_TOKEN"),
        )
        data = ecr.get_authorization_token()["authorizationData"][0]
    except (BotoCoreError, ClientError) as exc:
        raise fail(1, "amazon-ecr-login", stderr=str(exc)) from None
    user, _, password = (
        base64.b64decode(data["authorizationToken"]).decode().partition(":")
    )
    host = data["proxyEndpoint"].split("://", 1)[-1].rstrip("/")
    login = ["docker", "login", "--username", user, "--password-stdin", host]
    r = subprocess.run(
        call.runner.command(login, {"PATH": env["PATH"]}),
        input=password,
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise fail(r.returncode, "amazon-ecr-login", stderr=r.stderr.strip())
    return {"registry": host}, {}


ACTIONS: dict[str, Callable[[ActionCall], tuple[dict, dict]]] = {
    "actions/checkout": _checkout,
    "actions/setup-python": _setup_python,
    "actions/cache": _cache,
    "actions/upload-artifact": _upload_artifact,
    "actions/download-artifact": _download_artifact,
    "aws-actions/configure-aws-credentials": _aws_credentials,
    "aws-actions/amazon-ecr-login": _ecr_login,
}
