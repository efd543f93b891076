"""Helpers for the rollout tests (tests/test_rollout*.py, test_remote_host.py,
test_secrets.py): releases in the run's own registry, stacks under their own Compose
project names and proxy ports, load through the proxy, and `./inv deploy` runs.

Images: the service images come from conftest's session fixture `service_images`
(built with Pants once per session); the proxy image is built once here. New
versions are derived from them in about a second (FROM <image> + LABEL; a bad one
with `HEALTHCHECK CMD false`) and pushed to conftest's `local_registry`, so every
manifest entry is pinned by digest as in production.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from release.adapters import docker_host
from release.images.build import build_images
from release.model.live import COMPOSE_PROJECT, COMPOSE_SERVICE, LiveContainer
from release.model.manifest import Manifest, ServiceEntry, dumps
from testing import commands, loadgen
from testing.commands import docker, free_port  # noqa: F401 (used by tests)

ROOT = Path(__file__).resolve().parents[1]
INV = str(ROOT / "inv")
BAD_HEALTH = (
    "HEALTHCHECK --interval=1s --timeout=2s --retries=2 --start-period=1s "
    'CMD ["false"]'
)
# The machine runs other people's builds beside the tests (load averages of 30 on 2
# cores were seen): releases under test in the fleet and Swarm tests and the fleet
# bench get a healthcheck that tolerates a slow start and a slow probe, so a failed
# gate there means the release, not the load.
PATIENT_HEALTH = (
    "HEALTHCHECK --interval=2s --timeout=10s --retries=5 --start-period=90s CMD "
    '["/app/bin/python", "-c", "import urllib.request; '
    "urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=8)\"]"
)
# A health check the test opens (tests/test_rollout_reliability.py): the gate of a
# new replica holds until the test creates GATE_FILE in it, so a phase of a deploy
# lasts as long as the test needs, whatever the host's speed.
GATE_FILE = "/tmp/gate-open"
GATED_HEALTH = (
    "HEALTHCHECK --interval=1s --timeout=5s --retries=3 --start-period=300s CMD "
    f'test -f {GATE_FILE} && /app/bin/python -c "import urllib.request; '
    "urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=4)\""
)
# Replicas that ignore the stop signal: `docker stop` waits the whole grace period
# (15 s) before SIGKILL, so retiring them is a phase that cannot end early.
SLOW_STOP = "STOPSIGNAL SIGWINCH"
# A health check the test slows down: once SLOW_FILE exists in a replica, each check
# takes 3 s against a 2 s timeout (Docker: unhealthy, by timeouts), while the
# replica serves as before and passes when asked with more patience.
SLOW_FILE = "/tmp/slow-checks"
SLOWABLE_HEALTH = (
    "HEALTHCHECK --interval=2s --timeout=2s --retries=2 --start-period=15s CMD "
    f'if [ -f {SLOW_FILE} ]; then sleep 3; fi; /app/bin/python -c "import '
    "urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/ready', "
    'timeout=4)"'
)
_PROXY: dict[str, str] = {}


def pushed_entry(
    registry, local: str, repo: str, tag: str, version: str, replicas: int = 2
) -> ServiceEntry:
    """`local` pushed to `registry` as repo:tag, and the manifest entry that names it
    by digest (the fields a publish would fill, with fixed test values)."""
    digest = registry.push(local, repo, tag)
    return ServiceEntry(
        image=f"{registry.address}/{repo}:{tag}@{digest}",
        version=version,
        git_sha="0000000",
        deployed_at="2026-01-01T00:00:00Z",
        deployed_by="tests",
        replicas=replicas,
        feature_flags={},
    )


def proxy_image() -> str:
    """The proxy image, built with Pants once per test session."""
    if "ref" not in _PROXY:
        _PROXY["ref"] = build_images([], include_proxy=True, quiet=True)["proxy"]
    return _PROXY["ref"]


class Releases:
    """Manifest entries whose images are in the test registry, pushed once each."""

    def __init__(self, registry, service_images: dict[str, str]):
        self.registry = registry
        self.bases = dict(service_images)
        self.pushed: dict[tuple, ServiceEntry] = {}
        self.derived: list[str] = []

    def base(self, service: str) -> str:
        if service == "proxy":
            return proxy_image()
        return self.bases[service]

    def entry(
        self,
        service: str,
        version: str = "1.0.0",
        replicas: int = 2,
        flags: dict | None = None,
        healthy: bool = True,
        health: str = "",
        dockerfile: str = "",
    ) -> ServiceEntry:
        """The release `version` of `service` in the registry: the built image at
        1.0.0, else an image derived from it with that version label and, when
        given, a HEALTHCHECK of its own (`health`, e.g. PATIENT_HEALTH; BAD_HEALTH
        when not `healthy`) and other Dockerfile lines (`dockerfile`)."""
        extra = (BAD_HEALTH if not healthy else health) + (
            f"\n{dockerfile}" if dockerfile else ""
        )
        key = (service, version, extra)
        if key not in self.pushed:
            tag = f"v{version}" + ("" if healthy else "-unhealthy")
            if healthy and extra:
                tag += "-health-" + hashlib.sha256(extra.encode()).hexdigest()[:6]
            local = self.base(service)
            if version != "1.0.0" or extra:
                local = f"ecotrack-rollout-test/{service}:{tag}-{uuid.uuid4().hex[:6]}"
                docker(
                    "build",
                    "-q",
                    "-t",
                    local,
                    "-",
                    stdin=f"FROM {self.base(service)}\nLABEL version={version}\n"
                    f"{extra}\n",
                )
                self.derived.append(local)
            repo = f"ecotrack/{service}"
            tag = f"{tag}-{uuid.uuid4().hex[:6]}"  # tags are immutable: one per run
            self.pushed[key] = pushed_entry(self.registry, local, repo, tag, version)
        return replace(
            self.pushed[key],
            replicas=1 if service == "proxy" else replicas,
            feature_flags=flags or {},
        )

    def manifest(self, **entries: ServiceEntry) -> Manifest:
        return Manifest("local", {"proxy": self.entry("proxy"), **entries})

    def cleanup(self) -> None:
        if self.derived:
            docker("rmi", "-f", *self.derived, check=False)


class Stack:
    """One Compose project deployed with `./inv deploy` (on `host`, default local)."""

    def __init__(self, workdir: Path, host: str | None = None, env: dict | None = None):
        self.workdir = workdir
        self.host = host
        self.env = dict(env or {})
        self.project = f"ecotrack-rollout-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self._client = None

    @property
    def client(self):
        if self._client is None:
            self._client = docker_host.connect(self.host)
        return self._client

    def write(self, manifest: Manifest) -> Path:
        path = self.workdir / f"manifest-{uuid.uuid4().hex[:8]}.json"
        path.write_text(dumps(manifest))
        return path

    def deploy_args(self, manifest: Manifest, *extra: str) -> list[str]:
        args = [INV, "deploy", "--project", self.project, "--port", str(self.port)]
        args += ["--manifest", str(self.write(manifest))]
        if self.host:
            args += ["--host", self.host]
        return args + list(extra)

    def inv(self, *args: str, env: dict | None = None, timeout: float = 600):
        return commands.inv(*args, env={**self.env, **(env or {})}, timeout=timeout)

    def deploy(self, manifest: Manifest, *extra: str, env=None, timeout=600):
        return subprocess.run(
            self.deploy_args(manifest, *extra),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **self.env, **(env or {})},
        )

    def deploy_ok(self, manifest: Manifest, *extra: str):
        r = self.deploy(manifest, *extra)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        return r

    def start_deploy(self, manifest: Manifest, *extra: str, env=None) -> "Running":
        """A deploy in the background, in its own process group (to SIGKILL it)."""
        proc = subprocess.Popen(
            self.deploy_args(manifest, *extra),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **self.env, **(env or {})},
            start_new_session=True,
        )
        return Running(proc)

    def containers(self, service: str) -> list[LiveContainer]:
        return list(docker_host.snapshot(self.client, self.project, service).containers)

    def healthy_by_docker(self, service: str) -> list[LiveContainer]:
        return docker_healthy(lambda: self.containers(service))

    @property
    def internal_port(self) -> int:
        """The proxy's internal listener: /version and /metrics are served there."""
        return commands.proxy_internal_port(self.project, self.host)

    def get(
        self,
        path: str,
        headers: dict | None = None,
        method="GET",
        body=None,
        port: int = 0,
    ):
        conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=10)
        try:
            data = json.dumps(body) if body is not None else None
            hdrs = {"Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            raw = r.read()
            try:
                return r.status, json.loads(raw or b"null")
            except ValueError:
                return r.status, raw.decode(errors="replace")
        finally:
            conn.close()

    def down(self) -> None:
        label = f"label={COMPOSE_PROJECT}={self.project}"
        ids = docker("ps", "-aq", "--filter", label, host=self.host, check=False)
        if ids:
            docker("rm", "-f", *ids.split(), host=self.host, check=False)
        commands.remove_host_state(self.project, self.host)
        for kind in ("volume", "network"):
            names = docker(kind, "ls", "-q", "--filter", label, host=self.host)
            if names:
                docker(kind, "rm", *names.split(), host=self.host, check=False)


class Running:
    """A background `./inv deploy`, its output collected line by line."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for_line(self, text: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output:
                return
            if self.proc.poll() is not None:
                time.sleep(0.2)
                break
            time.sleep(0.1)
        raise AssertionError(f"never saw {text!r}; output:\n{self.output[-3000:]}")

    def kill(self) -> None:
        """SIGKILL to the deploy and its children (compose, ssh): a hard crash."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        self.reader.join(timeout=5)


Load = loadgen.Load  # re-exported for the rollout tests


def running(containers: list[LiveContainer]) -> list[LiveContainer]:
    return [c for c in containers if c.state == "running"]


def docker_healthy(
    look: Callable[[], list[LiveContainer]], timeout: float = 30
) -> list[LiveContainer]:
    """The running containers `look` finds, once Docker has given each its first
    verdict (none still `starting`): a deploy lets replicas in on their own check
    run early, and may end before Docker's first scheduled check (one interval,
    5 s, after the start)."""
    deadline = time.monotonic() + timeout
    while True:
        up = running(look())
        if all(c.health != "starting" for c in up) or time.monotonic() > deadline:
            return up
        time.sleep(0.5)


def service_label(service: str) -> str:
    return f"{COMPOSE_SERVICE}={service}"
