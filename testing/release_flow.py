"""The world the release flow's replay runs in (tests/test_release_flow.py).

GitHub, AWS and the EC2 hosts are out of reach here; each has the closest real
stand-in, and the workflow files run unchanged against them:

- GitHub: a bare remote of a scratch copy of this repository, the replay harness
  (testing/workflow_replay.py: jobs in `needs` order, steps as a non-root account with
  passwordless sudo, GitHub environments with their secrets) and a `gh` that records
  the pull requests it opens; the test merges them as GitHub's merge button would.
- AWS: moto's server for STS and ECR's API, ECR's registry host served over TLS by a
  docker-registry (testing/ecr_standin.py).
- staging's and prod's EC2 machines: two simulated hosts, each a dockerd in a network
  namespace of its own reached over real SSH (testing/fleet.py), pulling from
  the ECR host, their proxies on port 80 as the environments' compose files say.

The staging and prod manifests start with every service at 1.0.0 (the images the
session built, pushed to the ECR stand-in) and both hosts are deployed from them by
a manual run of deploy.yml before the scenario starts.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from release.adapters import docker_images
from release.adapters.daemons import free_port
from release.adapters.registry_ecr import EcrRegistry
from release.devenv import tls as devenv_tls
from release.images.base import ensure_base_image
from release.machine import fleet as fleet_sim
from release.model.manifest import Manifest, dumps, loads
from testing.ecr_standin import ACCOUNT, EcrStandIn
from testing.fleet import Fleet, Forwarder
from testing.rollout import Releases
from testing.scenario_repo import source_files
from testing.workflow_files import changed_files, load, triggered
from testing.workflow_replay import WorkflowRun
from testing.workflow_runner import Event, Runner, RunnerUser, StepLog

ROOT = Path(__file__).resolve().parents[1]

WORKFLOWS = ROOT / ".github" / "workflows"
GIT_ID = [
    "-c",
    "user.name=developer",
    "-c",
    "user.email=developer@example.com",
]
# A hosted runner's PATH (not this process's: root's pyenv shims and tools).
# The proxy's HTTPS port on the simulated staging and prod hosts (PROXY_TLS_PORT).
TLS_PORT = 8443
RUNNER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PUSH_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecotrack-ecr-push"
DEPLOY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecotrack-deploy"
DOCKER_HUB_BASE = "python:3.11-slim-bookworm"  # ci.yml's BASE_IMAGE


# The remote belongs to the runner's account; git trusts another owner's repository
# only through the global (or system) config, so the test's git gets one of its own.
_GITCONFIG = Path(tempfile.gettempdir()) / "ecotrack-flow.gitconfig"


def git(cwd: Path, *args: str) -> str:
    _GITCONFIG.write_text("[safe]\n\tdirectory = *\n")
    return subprocess.run(
        ["git", *GIT_ID, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GIT_CONFIG_GLOBAL": str(_GITCONFIG)},
    ).stdout.strip()


def interpreter(version: str) -> str:
    """This machine's CPython `version` (pyenv's), for setup-python."""
    root = subprocess.run(
        ["pyenv", "root"], capture_output=True, text=True, check=True
    ).stdout.strip()
    found = sorted(Path(root, "versions").glob(f"{version}.*/bin/python{version}"))
    if not found:
        raise RuntimeError(f"no Python {version} under {root}/versions")
    return str(found[-1])


class ReleaseWorld:
    def __init__(self, service_images: dict[str, str], versions: dict[str, int]):
        self.dir = Path(tempfile.mkdtemp(prefix="ecotrack-flow-", dir="/tmp"))
        self.dir.chmod(0o755)  # the runner's account reads the remote in here
        self.service_images = service_images
        self.replicas = versions  # service → replicas in both manifests
        self.user: RunnerUser | None = None
        self.ecr: EcrStandIn | None = None
        self.fleet: Fleet | None = None
        self.forwarders: list[Forwarder] = []
        self.tls_ports: list[int] = []  # this machine's port for each host's HTTPS
        self.releases: Releases | None = None
        self.repo = self.dir / "repo"  # the developers' clone
        self.remote = self.dir / "origin.git"
        self.runner: Runner | None = None
        self.tagged_base = False

    # -- lifecycle --------------------------------------------------------------------

    def __enter__(self) -> "ReleaseWorld":
        try:
            # An account of its own: other replay tests remove theirs when done.
            self.user = RunnerUser.ensure("ecotrack-flow-runner")
            (self.dir / "ecr").mkdir()
            self.ecr = EcrStandIn(self.dir / "ecr").__enter__()
            self.fleet = Fleet(2, self.ecr.registry_port)
            self.fleet.proxy_port = 80  # the port staging's and prod's compose publish
            self.fleet.__enter__()
            os.environ["PATH"] = self.fleet._old_path  # the runner brings its own ssh
            for host in self.fleet.hosts:  # the ECR host's port, as on a real machine
                self.forwarders.append(
                    Forwarder(443, 443, host.netns, self.fleet.host_ns)
                )
            # Staging and prod serve HTTPS only. The proxy's PEM is a file on the
            # host (the simulated hosts share this machine's files); its port is
            # PROXY_TLS_PORT, since 443 inside a host is the ECR stand-in's.
            self.tls = devenv_tls.ensure(self.dir / "tls")
            for host in self.fleet.hosts:
                port = free_port()
                self.forwarders.append(
                    Forwarder(port, TLS_PORT, self.fleet.host_ns, host.netns)
                )
                self.tls_ports.append(port)
            self._stand_in_for_docker_hub()
            self._publish_first_release()
            self._make_origin()
            self.runner = self._make_runner()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.user:
            self.user.end_session()
        for f in self.forwarders:
            f.close()
        if self.fleet and self.fleet.state:
            os.environ["PATH"] = f"{self.fleet.state.bin_dir}:{os.environ['PATH']}"
            self.fleet.__exit__()
        if self.releases:
            self.releases.cleanup()
        if self.ecr:
            self.ecr.__exit__()
        if self.user:
            self.user.remove()
        if self.tagged_base:
            subprocess.run(["docker", "rmi", DOCKER_HUB_BASE], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _stand_in_for_docker_hub(self) -> None:
        """ci.yml builds on python:3.11-slim-bookworm, which Docker Hub serves and
        this machine cannot pull: the base image made here (Debian bookworm with
        Python 3.11, by debootstrap) takes its name while the world lives."""
        if docker_images.present(DOCKER_HUB_BASE):
            return
        docker_images.tag(ensure_base_image(), DOCKER_HUB_BASE)
        self.tagged_base = True

    def _publish_first_release(self) -> None:
        registry = EcrRegistry(self.ecr.api())
        self.releases = Releases(registry, self.service_images)
        entries = {"proxy": self.releases.entry("proxy")}
        for service, replicas in self.replicas.items():
            entries[service] = self.releases.entry(service, "1.0.0", replicas=replicas)
        self.first = entries

    def _make_origin(self) -> None:
        # The working tree as it is, as the repository GitHub holds: no .venv and no
        # pex tool (each job's checkout makes its own, as on GitHub).
        for rel in source_files():
            if not (ROOT / rel).is_symlink():
                (self.repo / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, self.repo / rel)
        for env in ("staging", "prod"):
            path = self.repo / "gitops" / "versions" / f"{env}.json"
            path.write_text(dumps(Manifest(env, dict(self.first))))
        git(self.repo, "init", "-q", "-b", "main")
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-qm", "ecotrack at 1.0.0 in staging and prod")
        git(self.dir, "clone", "-q", "--bare", str(self.repo), str(self.remote))
        git(self.repo, "remote", "add", "origin", str(self.remote))
        self.user.own(self.remote)

    def _make_runner(self) -> Runner:
        fleet_home = self.fleet.dir
        host_key = (fleet_home / "host_key.pub").read_text()
        environments = {}
        for env, host in zip(("staging", "prod"), self.fleet.hosts):
            environments[env] = {
                "DEPLOY_HOST": "127.0.0.1",
                "DEPLOY_PORT": str(host.port),
                "DEPLOY_USER": "root",
                "DEPLOY_SSH_KEY": (fleet_home / "client_key").read_text(),
                "DEPLOY_KNOWN_HOSTS": fleet_sim.known_hosts(host_key, [host.port]),
                "SECRETS_ENV": f"JWT_SECRET={secrets.token_urlsafe(48)}",
                "AWS_DEPLOY_ROLE_ARN": DEPLOY_ROLE,
                "AWS_REGION": self.ecr.region,
            }
        runner = Runner(
            remote=self.remote,
            work=self.dir / "runner",
            user=self.user,
            secrets={"AWS_ECR_PUSH_ROLE_ARN": PUSH_ROLE, "AWS_REGION": self.ecr.region},
            env={
                "PATH": RUNNER_PATH,
                "LANG": "C.UTF-8",
                "PROXY_TLS_FILE": str(self.tls.pem),
                "PROXY_TLS_PORT": str(TLS_PORT),
            },
            python={v: interpreter(v) for v in ("3.9", "3.11")},
            aws_endpoint=self.ecr.api_url,
            environments=environments,
        )
        return runner

    # -- what the developers and GitHub do ---------------------------------------------

    def head(self, ref: str = "main") -> str:
        return git(self.remote, "rev-parse", ref)

    def commit_change(self, branch: str, path: str, old: str, new: str) -> str:
        """A one-line edit of `path` on `branch` (made from main), pushed."""
        git(self.repo, "fetch", "-q", "origin")
        git(self.repo, "checkout", "-q", "-B", branch, "origin/main")
        file = self.repo / path
        text = file.read_text()
        assert text.count(old) == 1, f"{path}: {old!r} is not there exactly once"
        file.write_text(text.replace(old, new))
        git(self.repo, "commit", "-qam", f"{path}: {new.strip()[:50]}")
        git(self.repo, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
        self.user.own(self.remote)
        return git(self.repo, "rev-parse", "HEAD")

    def merge(self, branch: str, title: str) -> Event:
        """GitHub's merge button: a merge commit of `branch` on main, pushed."""
        before = self.head()
        git(self.repo, "fetch", "-q", "origin")
        git(self.repo, "checkout", "-q", "-B", "main", "origin/main")
        git(self.repo, "merge", "-q", "--no-ff", "-m", title, f"origin/{branch}")
        git(self.repo, "push", "-q", "origin", "main")
        self.user.own(self.remote)
        return Event("push", self.head(), before=before)

    def pull_request(self, branch: str) -> Event:
        return Event(
            "pull_request",
            self.head(branch),
            ref="refs/pull/1/merge",
            base_sha=self.head(),
        )

    def push_event(self, before: str) -> Event:
        return Event("push", self.head(), before=before)

    def workflows_for(self, event: Event) -> list[str]:
        """The workflow files GitHub would start for `event`."""
        changed = (
            changed_files(self.remote, event.before, event.sha)
            if event.name == "push"
            else []
        )
        return sorted(
            p.name
            for p in WORKFLOWS.glob("*.yml")
            if triggered(load(p), event, changed)
        )

    def replay(self, workflow: str, event: Event, **kw) -> WorkflowRun:
        run = WorkflowRun(self.runner, WORKFLOWS / workflow, event)
        run.run(**kw)
        return run

    def manifest(self, env: str, ref: str = "main") -> Manifest:
        text = git(self.remote, "show", f"{ref}:gitops/versions/{env}.json")
        return loads(text, f"{env}.json")

    def files_changed(self, before: str, after: str) -> list[str]:
        return changed_files(self.remote, before, after)

    def commits_between(self, before: str, after: str) -> list[str]:
        out = git(self.remote, "rev-list", "--first-parent", f"{before}..{after}")
        return out.split()

    def images_on(self, env: str, service: str) -> list[str]:
        """The image (as the manifest names it) of each running container of
        `service` on env's host."""
        host = self.fleet.hosts[0 if env == "staging" else 1]
        ids = host.docker(
            "ps", "-q", "--filter", f"label=com.docker.compose.service={service}"
        ).split()
        if not ids:
            return []
        out = host.docker("inspect", "--format", "{{.Config.Image}}", *ids)
        return sorted(line for line in out.splitlines() if line)

    def proxy_port(self, env: str) -> int:
        """This machine's port for env's plain HTTP (in staging and prod: redirects)."""
        return self.fleet.hosts[0 if env == "staging" else 1].proxy_port

    def https_port(self, env: str) -> int:
        """This machine's port for env's HTTPS (verify with `self.tls.ca`)."""
        return self.tls_ports[0 if env == "staging" else 1]

    def note(self, text: str) -> None:
        """A line of the test's own in the replay's log."""
        self.runner.log.append(StepLog("test", text, "note"))

    def write_log(self, path: Path) -> None:
        path.write_text(self.runner.summary())


def release_records(runner: Runner) -> list[dict]:
    """The release records the service jobs uploaded (ci.yml's release-staging-*)."""
    arts = runner.work / "artifacts"
    found = sorted(arts.glob("release-staging-*/*.json"))
    return [json.loads(p.read_text()) for p in found]
