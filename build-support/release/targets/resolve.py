"""Desired state for a deploy: the environment's Compose files, the manifest and the
host's secrets, resolved by Compose into one configuration hash per service.

`resolve` returns the Compose project (with the deploy's generated override: version
and fingerprints as labels, feature flags as environment) and each managed service's
Desired state. The resolved configuration holds the secrets' values: it is hashed
here, never printed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import yaml

from release.base.layout import DEFAULT_ENV, GitopsTree
from release.devenv import tls as local_tls
from release.engine.access import HostAccess
from release.engine.results import DeployError
from release.gitops.secrets import (
    ensure_keys,
    ensure_secrets,
    read_env_file,
    secrets_file,
)
from release.model import live
from release.model.desired import (
    ROLE_PROXY,
    Desired,
    Unit,
    compose_override,
    config_hash,
    desired_units,
    key_volume_variables,
    secrets_hash,
    units_from_compose,
    with_hashes,
)
from release.model.manifest import Manifest

PLACEHOLDER_IMAGE = "ecotrack.invalid/unused:none"


def compose_docs(env: str, gitops: GitopsTree) -> list[dict]:
    """The environment's Compose files as parsed YAML, base first."""
    docs = []
    for path in gitops.compose_files(env):
        try:
            docs.append(yaml.safe_load(path.read_text()) or {})
        except (OSError, yaml.YAMLError) as exc:
            raise DeployError(f"{path}: cannot read: {exc}") from None
    return docs


def read_units(env: str, gitops: GitopsTree) -> tuple[Unit, ...]:
    return units_from_compose(compose_docs(env, gitops))


def _secrets_path(env: str, project: str, needed: bool, workdir: Path) -> Path:
    override = os.environ.get("ECOTRACK_SECRETS_FILE")
    if override:
        path = Path(override)
    elif env == "local":
        return ensure_secrets(project)  # the local environment makes its own
    else:
        path = secrets_file(project)
    if path.is_file():
        return path
    if needed:
        raise DeployError(
            f"no secrets for {env}: put them in {path} (KEY=value lines, mode 0600) "
            "or point ECOTRACK_SECRETS_FILE at such a file"
        )
    empty = workdir / "no-secrets.env"
    empty.write_text("")
    return empty


def _proxy_variables(
    units: Sequence[Unit], state: live.LiveState, port: int | None, bind: str | None
) -> dict[str, str]:
    published: tuple = ()
    kept: dict = {}
    for u in units:
        if u.role == ROLE_PROXY:
            for c in state.for_service(u.service):
                if c.state == "running" and c.published:
                    # The public HTTP port (8080 in the container), not just any.
                    published = c.ports.get("8080/tcp") or c.published[0]
                    kept = c.ports
    out = {}
    if port or published:
        out["PROXY_PORT"] = str(port or published[1])
    if bind or published:
        out["PROXY_BIND"] = bind or published[0]
    # A redeploy asks for the HTTPS and internal ports the running proxy was created
    # with (none where Docker picked them), so its configuration is unchanged.
    for variable, container_port in PROXY_KEPT_PORTS.items():
        if kept.get(container_port, ("", ""))[1]:
            out[variable] = kept[container_port][1]
    return out


def secrets_fingerprint(secrets_path: Path, keys: dict[str, bytes]) -> str:
    """The env file's values and the key files, summed up (never shown)."""
    values = read_env_file(secrets_path)
    values.update({f"file:{name}": data.decode() for name, data in keys.items()})
    return secrets_hash(values)


PROXY_KEPT_PORTS = {"PROXY_TLS_PORT": "8443/tcp", "PROXY_INTERNAL_PORT": "8081/tcp"}


def _tls_variables(env: str) -> dict[str, str]:
    """Where the proxy's PEM (certificate + key) is on the host: the local CA's
    certificate locally, else PROXY_TLS_FILE if the operator set it (the
    environment's Compose file has the default path)."""
    if env == DEFAULT_ENV:
        return {"PROXY_TLS_FILE": str(local_tls.ensure().pem)}
    path = os.environ.get("PROXY_TLS_FILE")
    return {"PROXY_TLS_FILE": path} if path else {}


def resolve(
    access: HostAccess,
    env: str,
    project: str,
    manifest: Manifest,
    units: Sequence[Unit],
    state: live.LiveState,
    workdir: Path,
    host: str,
    proxy_port: int | None = None,
    proxy_bind: str | None = None,
    *,
    gitops: GitopsTree,
    proxy_ports: dict[str, int] | None = None,
) -> tuple[object, dict[str, Desired]]:
    """The Compose project with the deploy's override, and each managed service's
    desired state with the hash of its resolved configuration."""
    needed = any(u.env_file and u.entry in manifest.services for u in units)
    secrets_path = _secrets_path(env, project, needed, workdir)
    fingerprint = secrets_fingerprint(secrets_path, ensure_keys(project))
    desired = desired_units(manifest, units, fingerprint)
    images = {}
    for u in units:
        if u.entry in manifest.services:
            images[u.entry] = manifest.services[u.entry].image
        else:
            running = [c.image for c in state.for_service(u.service) if c.image]
            images.setdefault(u.entry, running[0] if running else PLACEHOLDER_IMAGE)
    variables = {
        f"{entry.upper().replace('-', '_')}_IMAGE": ref for entry, ref in images.items()
    }
    variables["ECOTRACK_SECRETS_FILE"] = str(secrets_path)
    variables.update(key_volume_variables(project))
    variables.update(_proxy_variables(units, state, proxy_port, proxy_bind))
    variables.update({k: str(v) for k, v in (proxy_ports or {}).items() if v})
    variables.update(_tls_variables(env))
    override = workdir / "compose.deploy.json"
    override.write_text(json.dumps(compose_override(desired), indent=2))
    compose = access.compose(host, project, env, variables, (override,), gitops)
    # The resolved config holds the secrets' values: hashed here, never printed.
    resolved = compose.config().get("services", {})
    hashes = {name: config_hash(resolved[name]) for name in desired}
    desired = with_hashes(desired, hashes)
    override.write_text(json.dumps(compose_override(desired, hashes), indent=2))
    return compose, desired
