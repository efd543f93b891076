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
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

from release.adapters import docker_host
from release.adapters.host_access import DockerHostAccess
from release.base.layout import GITOPS, GitopsTree
from release.canary import rollout as canary
from release.engine.events import Reporter
from release.gitops.secrets import keys_dir, secrets_file
from release.images.build import build_images
from release.model.live import COMPOSE_PROJECT, LiveContainer
from release.model.manifest import Manifest, ServiceEntry, dumps
from release.targets import resolve
from release.targets.host import observe as observation
from release.targets.host import rollout
from testing import loadgen
from testing.commands import (  # noqa: F401 (used by tests)
    docker,
    free_port,
    proxy_internal_port,
    inv,
    remove_host_state,
)
from testing.rollout import docker_healthy, pushed_entry

ACCESS = DockerHostAccess()  # the real Docker host, as cli/wiring.py wires it
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
        return pushed_entry(
            self.registry, local, f"ecotrack/{name}", tag, version, replicas
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
            ACCESS,
            "local",
            services=services,
            manifest=manifest,
            project=self.project,
            proxy_port=self.port,
            reporter=kw.pop("reporter", None) or Quiet(),
            gitops=kw.pop("gitops", GITOPS),
            **kw,
        )

    def inv_deploy(self, manifest: Path, *flags: str, env: dict | None = None):
        """`./inv deploy --json` of this stack to the manifest file, as a user runs
        it, with more `flags` and environment `env`; never raises on exit."""
        return inv(
            "deploy",
            "--env",
            "local",
            "--project",
            self.project,
            "--manifest",
            str(manifest),
            "--port",
            str(self.port),
            "--json",
            *flags,
            env=env,
        )

    def canary(self, manifest: Manifest, reporter=None, **opts):
        """A canary of SERVICE to `manifest` (canary/rollout.py), as the deploy
        task runs it; `opts`: the rest of CanaryOptions (window, thresholds)."""
        return canary.run(
            ACCESS,
            canary.CanaryOptions(
                env="local",
                service=SERVICE,
                project=self.project,
                manifest=manifest,
                proxy_port=self.port,
                **opts,
            ),
            reporter,
        )

    def observe(self, manifest: Manifest | None = None, gitops_dir=None):
        return observation.observe(
            ACCESS,
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

    @property
    def internal_port(self) -> int:
        """The proxy's internal listener: /version and /metrics are served there."""
        return proxy_internal_port(self.project)

    def get_json(self, path: str, port: int = 0):
        conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=10)
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
            ACCESS,
            "local",
            self.project,
            self.baseline,
            resolve.read_units("local", GITOPS),
            state,
            Path(tempfile.mkdtemp(dir=self.workdir)),
            "",
            self.port,
            gitops=GITOPS,
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
        remove_host_state(self.project)
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
        shutil.rmtree(keys_dir(self.project), ignore_errors=True)


# -- load: requests through the proxy while something happens ------------------------


class Load(loadgen.Load):
    """The shared load generator, aimed at this stack's service by default."""

    def __init__(self, port: int, path: str = PATH, rate: float = 40.0, **kwargs):
        super().__init__(port, path, rate, **kwargs)
