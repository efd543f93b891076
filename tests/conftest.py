"""End-to-end fixtures: one Compose project of our own, on the real Docker engine.

The project name, proxy port, volumes and secrets are the test run's own, so a stack
that `./inv up` left running is never touched; everything is removed afterwards.
"""

from __future__ import annotations

import http.server
import json as _json
import os
import shutil as _shutil
import subprocess as _subprocess
import threading
import uuid
from pathlib import Path

import pytest

from release.adapters import worktree_git
from release.adapters.daemons import free_port
from release.adapters.registry_local import LocalRegistry, LocalRegistryConfig
from release.base.layout import services as _services
from release.cli import up as stack
from release.images import build as _images
from testing.commands import remove_host_state

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def state_home(tmp_path_factory) -> Path:
    """Secrets and other host state for this run only."""
    path = tmp_path_factory.mktemp("state")
    old = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(path)
    yield path
    if old is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = old


@pytest.fixture(scope="session")
def e2e_stack(state_home, local_registry, tmp_path_factory):
    """The whole stack, brought up as `./inv up` does (publish to the run's own
    registry, a manifest of its own, rolling deploy) under a unique project name."""
    opts = stack.StackOptions(
        env="local",
        project=f"ecotrack-e2e-{uuid.uuid4().hex[:8]}",
        proxy_port=free_port(),
        tls_port=free_port(),
        internal_port=free_port(),
        manifest=tmp_path_factory.mktemp("manifest") / "local.json",
    )
    try:
        statuses = stack.up(opts)
        yield opts, statuses
    finally:
        stack.down(opts, volumes=True)
        remove_host_state(opts.project)


@pytest.fixture(scope="session")
def head_sha() -> str:
    return worktree_git.head_sha()


# -- publishing (issue 4): a registry of our own, images built once, scratch repos ---
#
# The registry is Debian's docker-registry on a free port with its data in this run's
# temp dir (never the default 127.0.0.1:5000 a developer may be using). Service images
# are built with Pants once per session; tests that need new digests derive cheap
# images from them (FROM <built image> + one LABEL: a new config, no new layer).


SCRATCH_SERVICES = ("auth", "waste")


@pytest.fixture(scope="session")
def local_registry(tmp_path_factory):
    """A real docker-registry for this test run, stopped (by its pid) afterwards.
    The tooling's own lookups (ECOTRACK_REGISTRY_*) point at it meanwhile, so no test
    ever starts or uses the default registry on 127.0.0.1:5000."""
    config = LocalRegistryConfig(
        port=free_port(), home=tmp_path_factory.mktemp("registry")
    )
    registry = LocalRegistry(config)
    registry.ensure_running()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ECOTRACK_REGISTRY_PORT", str(config.port))
        mp.setenv("ECOTRACK_REGISTRY_DIR", str(config.home))
        yield registry
    registry.stop()
    _remove_images_named(config.address + "/")


@pytest.fixture(scope="session")
def service_images() -> dict[str, str]:
    """Every service image, built with Pants once per session (the same tag as the
    end-to-end stack's build, which then finds them in Docker's cache)."""
    return _images.build_images(_services(), include_proxy=False, quiet=True)


class ImageDeriver:
    """New local images with new digests, in about a second each."""

    def __init__(self, bases: dict[str, str]):
        self.bases = bases
        self.made: list[str] = []

    def __call__(self, service: str, label: str | None = None) -> str:
        label = label or uuid.uuid4().hex
        ref = f"ecotrack-test/{service}:{label[:12]}"
        dockerfile = (
            f"FROM {self.bases[service]}\nLABEL org.ecotrack.test.nonce={label}\n"
        )
        _subprocess.run(
            ["docker", "build", "-q", "-t", ref, "-"],
            input=dockerfile,
            text=True,
            check=True,
            capture_output=True,
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
        )
        self.made.append(ref)
        return ref


@pytest.fixture(scope="session")
def derive_image(service_images):
    deriver = ImageDeriver(service_images)
    yield deriver
    if deriver.made:
        _subprocess.run(
            ["docker", "rmi", "-f", *deriver.made], capture_output=True, check=False
        )


def _remove_images_named(prefix: str) -> None:
    out = _subprocess.run(
        ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    refs = [r for r in out if r.startswith(prefix)]
    if refs:
        _subprocess.run(["docker", "rmi", "-f", *refs], capture_output=True)


def run_git(repo: Path, *args: str) -> str:
    return _subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def init_repo(repo: Path, exclude: tuple[str, ...] = ()) -> None:
    run_git(repo, "init", "-q", "-b", "main")
    if exclude:
        (repo / ".git" / "info" / "exclude").write_text("\n".join(exclude) + "\n")
    run_git(repo, "config", "user.name", "Test Releaser")
    run_git(repo, "config", "user.email", "releaser@example.com")
    run_git(repo, "config", "commit.gpgsign", "false")
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", "initial")


def make_scratch_repo(path: Path, names=SCRATCH_SERVICES) -> Path:
    """A git repository shaped like this one as far as releasing needs: services with
    a BUILD (ecotrack_service) and version.py, the gitops Compose files, committed
    staging and prod manifests, and the .gitignore that keeps local.json out."""
    path.mkdir(parents=True, exist_ok=True)
    _shutil.copy(ROOT / ".gitignore", path / ".gitignore")
    for rel in ("gitops/compose.base.yaml", "gitops/manifest.schema.json"):
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        _shutil.copy(ROOT / rel, path / rel)
    for env in ("local", "staging", "prod"):
        src = ROOT / "gitops" / "environments" / env / "compose.yaml"
        dst = path / "gitops" / "environments" / env / "compose.yaml"
        dst.parent.mkdir(parents=True, exist_ok=True)
        _shutil.copy(src, dst)
    for env in ("staging", "prod"):
        write_manifest(path, env, {})
    # Unique content, so two scratch repos never share commit ids (nor image tags).
    (path / "scratch-id").write_text(uuid.uuid4().hex + "\n")
    for name in names:
        pkg = path / "services" / name / f"{name}_service"
        pkg.mkdir(parents=True)
        _shutil.copy(ROOT / "services" / name / "BUILD", pkg.parent)
        (pkg / "version.py").write_text('VERSION = "1.0.0"\n')
        (pkg / "main.py").write_text("print('hello')\n")
    init_repo(path)
    return path


def write_manifest(repo: Path, env: str, services: dict) -> Path:
    path = repo / "gitops" / "versions" / f"{env}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"environment": env, "services": services}
    path.write_text(_json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return path


def commit_all(repo: Path, message: str) -> str:
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", message)
    return run_git(repo, "rev-parse", "HEAD")


def git_log(repo: Path) -> list[str]:
    return run_git(repo, "log", "--format=%H %s").splitlines()


@pytest.fixture
def scratch_repo(tmp_path) -> Path:
    return make_scratch_repo(tmp_path / "repo")


def make_tooling_clone(path: Path) -> Path:
    """This repository's working tree (tracked and untracked files, not ignored ones)
    as one commit of a new repository, sharing .venv and the pex tool, so `./inv`
    runs in it as a user would without touching this checkout's manifests."""
    files = _subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (path / rel).parent.mkdir(parents=True, exist_ok=True)
            _shutil.copy2(src, path / rel)
    (path / ".venv").symlink_to(ROOT / ".venv")
    pex = ROOT / "build-support" / "bin" / "pex"
    if pex.exists():
        (path / "build-support" / "bin").mkdir(parents=True, exist_ok=True)
        _shutil.copy2(pex, path / "build-support" / "bin" / "pex")
    init_repo(path, exclude=("/.venv",))
    return path


def inv_in(repo: Path, *args: str, env: dict | None = None):
    """`./inv ARGS` in `repo`; `env` adds variables (None removes one)."""
    full = {**os.environ, **(env or {})}
    return _subprocess.run(
        [str(repo / "inv"), *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
        env={k: v for k, v in full.items() if v is not None},
    )


@pytest.fixture(scope="session")
def helpers():
    """The helpers above for test modules (fixtures, not imports: Pants infers
    dependencies from imports, and conftest is no importable module to it)."""
    import types

    return types.SimpleNamespace(
        free_port=free_port,
        run_git=run_git,
        init_repo=init_repo,
        make_scratch_repo=make_scratch_repo,
        make_tooling_clone=make_tooling_clone,
        write_manifest=write_manifest,
        commit_all=commit_all,
        git_log=git_log,
        inv_in=inv_in,
    )


class _Unavailable(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(503)
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def registry_down_port():
    """A port where something answers 503 to everything: a registry that is down."""
    server = http.server.HTTPServer(("127.0.0.1", free_port()), _Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


# -- GitOps (issue 6): one small stack deployed by the rollout engine, shared by the
# drift, agent, dashboard, canary and feature-flag tests. Each test leaves it at its
# baseline manifest (the `gitops` fixture resets it afterwards).


@pytest.fixture(scope="session")
def gitops_stack(state_home, local_registry, service_images, tmp_path_factory):
    from testing.gitops import GitopsStack

    stack = GitopsStack(local_registry, tmp_path_factory.mktemp("gitops"))
    try:
        yield stack.setup(service_images)
    finally:
        stack.down()


@pytest.fixture
def gitops(gitops_stack):
    yield gitops_stack
    gitops_stack.reset()


@pytest.fixture(scope="module")
def releases(local_registry, service_images):
    """Releases of the built service images in the test registry, one set per test
    module (testing/rollout.py: Releases); derived images removed after."""
    from testing.rollout import Releases

    r = Releases(local_registry, service_images)
    yield r
    r.cleanup()
