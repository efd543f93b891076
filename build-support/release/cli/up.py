"""`./inv up`: the local environment, GitOps from the first command.

`up` is the local pipeline: bootstrap the machine → publish what changed since the
local manifest (Pants builds, pushes to the local registry, records the digests in
gitops/versions/local.json) → deploy that manifest with the same health-gated rolling
update as `./inv deploy` → check every service through the proxy. A second `up` with
nothing new publishes nothing and finds the stack in sync; after an edit it rolls only
what the edit affects. Each step says what it does.

The proxy has three listeners on 127.0.0.1: plain HTTP (local only), HTTPS with a
certificate from the local CA (devenv/tls.py), and the internal listener where
readiness reasons, versions, metrics and HAProxy's stats are served; `up` checks
the services there and the HTTPS entry point with the CA.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from release.adapters import compose as compose_adapter
from release.adapters import http_check, machine
from release.adapters.compose import Compose
from release.adapters.docker_engine import ensure_engine
from release.base import console
from release.base.errors import HealthError, UsageError
from release.base.layout import (
    DEFAULT_ENV,
    GITOPS,
    PROXY,
    check_env,
    project_name,
    services,
)
from release.cli import publish_render, wiring
from release.devenv import tls as local_tls
from release.engine.events import Reporter
from release.gitops.secrets import ensure_secrets
from release.gitops.store import manifest_path
from release.model.desired import key_volume_variables
from release.machine import bootstrap
from release.model.manifest import load
from release.publish import pipeline as publishing
from release.targets.host import rollout


@dataclass(frozen=True)
class StackOptions:
    env: str = "local"
    project: str = ""
    proxy_port: int = 8080
    proxy_bind: str = "127.0.0.1"
    tls_port: int = 0  # 0: a free port Docker picks
    internal_port: int = 0  # 0: a free port Docker picks
    wait_timeout: int = 180
    manifest: Path | None = None  # default: gitops/versions/local.json
    health_timeout: float = 120.0

    @property
    def project_name(self) -> str:
        return project_name(self.env, self.project)

    @property
    def manifest_file(self) -> Path:
        return self.manifest or manifest_path(self.env)

    @property
    def base_url(self) -> str:
        return f"http://{self.proxy_bind}:{self.proxy_port}"

    @property
    def https_url(self) -> str:
        return f"https://{self.proxy_bind}:{self.tls_port}"

    @property
    def internal_url(self) -> str:
        return f"http://127.0.0.1:{self.internal_port}"

    @property
    def proxy_ports(self) -> dict[str, int]:
        return {
            "PROXY_TLS_PORT": self.tls_port,
            "PROXY_INTERNAL_PORT": self.internal_port,
        }


@dataclass
class ServiceStatus:
    name: str
    ready: bool
    version: dict = field(default_factory=dict)
    detail: str = ""


def image_variables(images: dict[str, str]) -> dict[str, str]:
    """{"waste": ref} → {"WASTE_IMAGE": ref}: how the Compose files receive images."""
    return {
        f"{name.upper().replace('-', '_')}_IMAGE": ref for name, ref in images.items()
    }


def compose_for(opts: StackOptions, images: dict[str, str]) -> Compose:
    variables = {
        **image_variables(images),
        "ECOTRACK_SECRETS_FILE": str(ensure_secrets(opts.project_name)),
        **key_volume_variables(opts.project_name),
        "PROXY_PORT": str(opts.proxy_port),
        "PROXY_BIND": opts.proxy_bind,
        "PROXY_TLS_FILE": str(local_tls.ensure().pem),
        **{k: str(v) for k, v in opts.proxy_ports.items() if v},
    }
    return Compose(
        project=opts.project_name,
        env=opts.env,
        variables=variables,
        binary=compose_adapter.compose_binary(),
        gitops=GITOPS,
    )


def wait_ready_through_proxy(
    base_url: str, names: list[str], timeout: float = 90.0
) -> list[ServiceStatus]:
    """Polls /<service>/health/ready through the proxy (its internal listener) until
    every one answers 200."""
    deadline = time.monotonic() + timeout
    pending = set(names)
    statuses: dict[str, ServiceStatus] = {}
    with http_check.Checker() as checker:
        while True:
            for name in sorted(pending):
                answer = checker.ready(base_url, name)
                statuses[name] = ServiceStatus(
                    name, answer.ready, answer.version or {}, answer.detail
                )
                if answer.ready:
                    pending.discard(name)
            if not pending:
                return [statuses[n] for n in names]
            if time.monotonic() > deadline:
                failing = ", ".join(
                    f"{n} ({statuses[n].detail})" for n in sorted(pending)
                )
                raise HealthError(
                    f"not ready through the proxy after {timeout:.0f}s: {failing}"
                )
            time.sleep(1)


def up(opts: StackOptions) -> list[ServiceStatus]:
    check_env(opts.env)
    if opts.env != DEFAULT_ENV:
        raise UsageError(
            f"./inv up runs the local environment; for {opts.env} use "
            f"./inv publish --env {opts.env} and ./inv deploy --env {opts.env}"
        )
    with console.step("bootstrap: checking this machine (./inv doctor shows it)"):
        machine.ensure(bootstrap.UP)
        plugin = compose_adapter.install_cli_plugin()
        if plugin:
            console.detail(f"installed the pinned Compose v2 as {plugin}")
    published = publishing.publish(
        publishing.PublishRequest(env=opts.env, manifest=opts.manifest)
    )
    publish_render.render(published)
    tls = local_tls.ensure()
    console.info(f"the proxy's HTTPS uses the local CA (curl --cacert): {tls.ca}")
    console.info(f"deploying {published.manifest or opts.manifest_file}")
    rollout.deploy(
        wiring.host_access(),
        opts.env,
        manifest=load(opts.manifest_file, opts.env),
        project=opts.project_name,
        proxy_port=opts.proxy_port,
        proxy_bind=opts.proxy_bind,
        proxy_ports=opts.proxy_ports,
        health_timeout=opts.health_timeout,
        parallel=0,  # side by side, as many as suit the host
        reporter=Reporter(),
        gitops=GITOPS,
    )
    opts = with_published_ports(opts)
    with console.step(f"checking every service through the proxy at {opts.base_url}"):
        statuses = wait_ready_through_proxy(
            opts.internal_url, [s.name for s in services()], opts.wait_timeout
        )
    with console.step(f"checking HTTPS at {opts.https_url} with the local CA"):
        problem = http_check.https_problem(
            f"{opts.https_url}/proxy/health", str(tls.ca)
        )
        if problem:
            raise HealthError(f"the proxy's HTTPS at {opts.https_url}: {problem}")
    return statuses


def with_published_ports(opts: StackOptions) -> StackOptions:
    """`opts` with the HTTPS and internal ports the running proxy has (where Docker
    picked them)."""
    if opts.tls_port and opts.internal_port:
        return opts
    compose = compose_for(opts, {s.name: "unused" for s in services()} | {PROXY: "x"})
    return replace(
        opts,
        tls_port=opts.tls_port or int(compose.port(PROXY, 8443) or 0),
        internal_port=opts.internal_port or int(compose.port(PROXY, 8081) or 0),
    )


def down(opts: StackOptions, volumes: bool = False) -> None:
    check_env(opts.env)
    ensure_engine()
    # The files require image variables even to stop a project: any value will do.
    placeholders = {s.name: "unused" for s in services()} | {PROXY: "unused"}
    with console.step(f"stopping Compose project {opts.project_name}"):
        compose_for(opts, placeholders).down(volumes=volumes)


def render_status(opts: StackOptions, statuses: list[ServiceStatus]) -> None:
    opts = with_published_ports(opts)
    rows = [
        [
            s.name,
            "ready" if s.ready else f"not ready ({s.detail})",
            f"{opts.https_url}/{s.name}/",
            s.version.get("version", "?"),
            str(s.version.get("git_sha", "?"))[:12],
            s.version.get("image_tag", "?"),
        ]
        for s in statuses
    ]
    console.table(
        f"{opts.project_name}: {len(statuses)} services behind {opts.https_url} "
        f"(plain HTTP, local only: {opts.base_url})",
        ["service", "status", "url", "version", "git sha", "image tag"],
        rows,
    )
    console.info(
        f"internal (stats, metrics, readiness reasons): {opts.internal_url}/stats, "
        f"CA: {local_tls.directory() / 'ca.pem'}"
    )
