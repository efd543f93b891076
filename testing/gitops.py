"""A small stack deployed by the rollout engine, for the GitOps tests and benchmark.

proxy + recycling (2 replicas) + auth (2 replicas, reads the host's secrets file),
deployed from a manifest whose images are in a registry of the run's own, under a
Compose project name and proxy port of its own. Versions of recycling are cheap
images derived from the one Pants built (one Dockerfile line each):

    v1, v2       good releases (1.0.0, 1.1.0)
    unhealthy    fails its health check (1.2.0): the deploy rolls back
    5xx          healthy, but GET /guidelines answers 500 (1.3.0): for the canary

Each test leaves the stack as it found it (`reset`); `down` removes everything.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

from release.adapters import docker_host
from release.base.layout import GITOPS, GitopsTree
from release.engine.events import Reporter
from release.gitops.secrets import secrets_file
from release.images.build import build_images
from release.model.live import COMPOSE_PROJECT, LiveContainer
from release.model.manifest import Manifest, ServiceEntry, dumps
from release.targets import resolve
from release.targets.host import observe as observation
from release.targets.host import rollout
from testing import loadgen
from testing.commands import docker, free_port  # noqa: F401 (used by tests)
from testing.rollout import docker_healthy

TEST_LABEL = "io.ecotrack.test"
SERVICE = "recycling"
PATH = "/recycling/guidelines"
MAIN_PY = "/app/lib/python3.11/site-packages/recycling_service/main.py"

# Makes GET /guidelines raise (an unhandled error: the service answers 500 and counts
# it in http_request_errors_total), the health check still passes.
FAULT = f"""
import pathlib
p = pathlib.Path({MAIN_PY!r})
old = "    def list_guidelines() -> list[GuidelineOut]:\\n"
text = p.read_text()
assert old in text
p.write_text(text.replace(old, old + "        raise RuntimeError('injected fault')\\n"))
"""

DERIVED = {
    "v2": "",
    "unhealthy": (
        "HEALTHCHECK --interval=1s --timeout=2s --retries=2 --start-period=1s "
        'CMD ["false"]'
    ),
    "5xx": (
        "USER root\n"
        f"RUN echo {base64.b64encode(FAULT.encode()).decode()} | base64 -d | python3\n"
        "USER app"
    ),
}
VERSIONS = {"v1": "1.0.0", "v2": "1.1.0", "unhealthy": "1.2.0", "5xx": "1.3.0"}


class Quiet(Reporter):
    """A deploy reporter that keeps the test output clean but remembers the steps."""

    def __init__(self):
        super().__init__()
        self.steps: list[tuple[str, str, str]] = []

    def _print(self, *args, **kwargs) -> None:
        pass

    def step(self, service: str, step: str, message: str) -> None:
        self.steps.append((service, step, message))

    def plan(self, plan) -> None:
        pass

    def result(self, result) -> None:
        pass


@dataclass
class GitopsStack:
    registry: object  # release.adapters.registry_local.LocalRegistry
    workdir: Path
    project: str = field(
        default_factory=lambda: f"ecotrack-gitops-{uuid.uuid4().hex[:6]}"
    )
    port: int = field(default_factory=free_port)
    entries: dict[str, ServiceEntry] = field(default_factory=dict)  # name → entry
    derived: list[str] = field(default_factory=list)
    baseline: Manifest | None = None

    # -- setup ------------------------------------------------------------------------

    def setup(self, service_images: dict[str, str]) -> "GitopsStack":
        """Pushes the images, derives the test versions, deploys the baseline."""
        stack = self
        proxy = build_images([], include_proxy=True, quiet=True)["proxy"]
        stack.entries["proxy"] = stack.push(proxy, "proxy", "v1", "1.0.0", 1)
        stack.entries["auth"] = stack.push(
            service_images["auth"], "auth", "v1", "1.0.0"
        )
        base = service_images[SERVICE]
        stack.entries["v1"] = stack.push(base, SERVICE, "v1", VERSIONS["v1"])
        for name, extra in DERIVED.items():
            ref = f"ecotrack-gitops-test/{SERVICE}:{name}-{stack.project[-6:]}"
            docker(
                "build",
                "-q",
                "--network",
                "none",  # RUN steps need nothing from outside
                "-t",
                ref,
                "-",
                stdin=f"FROM {base}\nLABEL {TEST_LABEL}.version={name}\n{extra}\n",
            )
            stack.derived.append(ref)
            stack.entries[name] = stack.push(ref, SERVICE, name, VERSIONS[name])
        stack.baseline = stack.manifest()
        stack.to_baseline()
        return stack

    def to_baseline(self) -> None:
        """Deploys the baseline, then waits for Docker's own first verdict on every
        container before a test looks (see rollout_support.docker_healthy)."""
        self.deploy(self.baseline)
        docker_healthy(lambda: self.containers(None))

    def push(self, local: str, name: str, tag: str, version: str, replicas: int = 2):
        repo = f"ecotrack/{name}"
        digest = self.registry.push(local, repo, tag)
        return ServiceEntry(
            image=f"{self.registry.address}/{repo}:{tag}@{digest}",
            version=version,
            git_sha="0000000",
            deployed_at="2026-01-01T00:00:00Z",
            deployed_by="tests",
            replicas=replicas,
            feature_flags={},
        )

    # -- manifests and deploys --------------------------------------------------------

    def manifest(
        self,
        recycling: str = "v1",
        flags: dict[str, dict[str, str]] | None = None,
        replicas: int = 2,
        env: str = "local",
    ) -> Manifest:
        flags = flags or {}
        services = {
            "proxy": self.entries["proxy"],
            "auth": replace(self.entries["auth"], feature_flags=flags.get("auth", {})),
            SERVICE: replace(
                self.entries[recycling],
                feature_flags=flags.get(SERVICE, {}),
                replicas=replicas,
            ),
        }
        return Manifest(env, services)

    def write(self, manifest: Manifest, path: Path | None = None) -> Path:
        path = path or Path(tempfile.mkstemp(suffix=".json", dir=self.workdir)[1])
        path.write_text(dumps(manifest))
        return path

    def deploy(self, manifest: Manifest, services=(), **kw):
        kw.setdefault("health_timeout", 90)
        return rollout.deploy(
            "local",
            services=services,
            manifest=manifest,
            project=self.project,
            proxy_port=self.port,
            reporter=kw.pop("reporter", None) or Quiet(),
            **kw,
        )

    def observe(self, manifest: Manifest | None = None, gitops_dir=None):
        return observation.observe(
            "local",
            project=self.project,
            manifest=manifest or self.baseline,
            gitops=GitopsTree(gitops_dir) if gitops_dir else GITOPS,
        )

    def containers(self, service: str | None = SERVICE) -> list[LiveContainer]:
        state = docker_host.snapshot(docker_host.connect(), self.project, service)
        return [c for c in state.containers if c.state == "running"]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get_json(self, path: str):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, json.loads(r.read() or b"null")
        finally:
            conn.close()

    def run_by_hand(self, image: str, *args: str) -> str:
        """A container started by hand (no Compose labels); removed by reset()."""
        return docker(
            "run",
            "-d",
            "--network",
            "none",
            "--label",
            f"{TEST_LABEL}={self.project}",
            *args,
            image,
        )

    def compose(self):
        state = docker_host.snapshot(docker_host.connect(), self.project)
        return resolve.resolve(
            "local",
            self.project,
            self.baseline,
            resolve.read_units("local"),
            state,
            Path(tempfile.mkdtemp(dir=self.workdir)),
            "",
            self.port,
        )[0]

    # -- teardown ---------------------------------------------------------------------

    def remove_strays(self) -> None:
        ids = docker("ps", "-aq", "--filter", f"label={TEST_LABEL}={self.project}")
        if ids:
            docker("rm", "-f", *ids.split())

    def reset(self) -> None:
        """Back to the baseline: strays removed, every container healthy again."""
        self.remove_strays()
        for c in self.containers():  # undo a test's chmod (see test_drift)
            docker(
                "exec",
                "-u",
                "root",
                c.id,
                "chmod",
                "644",
                "/data/recycling.db",
                check=False,
            )
        lock = docker("ps", "-aq", "--filter", f"name={self.project}-deploy-lock")
        if lock:
            docker("rm", "-f", *lock.split())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not any(c.health == "unhealthy" for c in self.containers()):
                break
            time.sleep(1)
        self.to_baseline()

    def down(self) -> None:
        self.remove_strays()
        ids = docker("ps", "-aq", "--filter", f"label={COMPOSE_PROJECT}={self.project}")
        if ids:
            docker("rm", "-f", *ids.split())
        docker("rm", "-f", f"{self.project}-deploy-lock", check=False)
        for kind in ("volume", "network"):
            names = docker(
                kind, "ls", "-q", "--filter", f"label={COMPOSE_PROJECT}={self.project}"
            )
            if names:
                docker(kind, "rm", *names.split(), check=False)
        if self.derived:
            docker("rmi", "-f", *self.derived, check=False)
        secrets = secrets_file(self.project)
        if secrets.exists():
            secrets.unlink()


# -- load: requests through the proxy while something happens ------------------------


class Load(loadgen.Load):
    """The shared load generator, aimed at this stack's service by default."""

    def __init__(self, port: int, path: str = PATH, rate: float = 40.0, **kwargs):
        super().__init__(port, path, rate, **kwargs)


# -- a webhook receiver that records what it is sent ---------------------------------


class WebhookReceiver:
    """An incoming-webhook stand-in on 127.0.0.1: records each JSON POST."""

    def __init__(self, status: int = 200):
        import http.server

        self.payloads: list[dict] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.payloads.append(json.loads(body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/services/T/B/x"

    def texts(self) -> list[str]:
        return [p["text"] for p in self.payloads]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- a GitOps repository and the agent watching it -----------------------------------

ROOT = Path(__file__).resolve().parents[1]
GIT_ID = ["-c", "user.name=Release Bot", "-c", "user.email=bot@ecotrack.invalid"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *GIT_ID, *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def make_gitops_repo(path: Path, manifest: Manifest, message: str = "initial") -> str:
    """A repository shaped like ours where the agent looks: gitops/ with the Compose
    files and the local manifest (committed here, unlike in the monorepo)."""
    path.mkdir(parents=True)
    for rel in (
        "gitops/compose.base.yaml",
        "gitops/environments/local/compose.yaml",
        "gitops/proxy/haproxy.cfg",  # a Swarm stack's proxy config is rendered from it
    ):
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text((ROOT / rel).read_text())
    git(path, "init", "-q", "-b", "main")
    return commit_manifest(path, manifest, message)


def commit_manifest(repo: Path, manifest: Manifest, message: str) -> str:
    target = repo / "gitops" / "versions" / f"{manifest.environment}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(dumps(manifest))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


class AgentProcess:
    """`./inv agent` as a user runs it, in the background; its JSON log in a file."""

    def __init__(
        self, stack: GitopsStack, repo: Path, home: Path, *extra: str, env=None
    ):
        self.stack, self.repo, self.home = stack, repo, home
        self.port = free_port()
        self.extra = extra
        self.env = env or {}
        self.logs: list[Path] = []
        self.proc: subprocess.Popen | None = None

    def start(self) -> "AgentProcess":
        log = self.home.parent / f"agent-{len(self.logs)}.log"
        self.logs.append(log)
        self.proc = subprocess.Popen(
            [
                str(ROOT / "inv"),
                "agent",
                "--env",
                "local",
                "--repo",
                str(self.repo),
                "--project",
                self.stack.project,
                "--interval",
                "1",
                "--listen",
                f"127.0.0.1:{self.port}",
                "--state-dir",
                str(self.home),
                *self.extra,
            ],
            cwd=ROOT,
            stdout=open(log, "w"),
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
        )
        self.wait(lambda s: s is not None, 60, "the agent's /status")
        return self

    def status(self) -> dict | None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            conn.request("GET", "/status")
            return json.loads(conn.getresponse().read())
        except (OSError, ValueError, http.client.HTTPException):
            return None

    def get(self, path: str) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode()

    def wait(self, predicate, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"the agent exited ({self.proc.returncode}):\n"
                    + self.output()[-3000:]
                )
            status = self.status()
            try:
                if predicate(status):
                    return status
            except (KeyError, TypeError, IndexError):
                pass
            time.sleep(0.5)
        raise AssertionError(
            f"timed out waiting for {what}; last status: "
            f"{json.dumps(status, default=str)[:1500]}\n{self.output()[-3000:]}"
        )

    def output(self) -> str:
        return "".join(p.read_text() for p in self.logs if p.exists())

    def events(self, name: str | None = None) -> list[dict]:
        out = []
        for line in self.output().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and (name is None or event.get("event") == name):
                out.append(event)
        return out

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)
