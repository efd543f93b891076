"""The stack file for a Swarm environment (pure): the environment's Compose files
(the same ones the Compose path reads) and the manifest's desired state in, one
`docker stack deploy` document out.

What Swarm gets that Compose does not:
- every image pinned by digest (the manifest's reference, never a tag alone);
- `deploy.update_config`/`rollback_config`: start-first, one task at a time, roll
  back on failure after `monitor` seconds of watching a new task; the proxy and
  workers stop-first (a host-mode port is held by one task per node, and a worker
  must not run twice);
- `endpoint_mode: dnsrr` everywhere: the service VIP needs IPVS, which this kind of
  machine lacks, so the proxy resolves `tasks.<service>` instead (a Swarm config
  replaces its haproxy.cfg with one that does), published with `mode: host`;
- the deploy's labels (version, config hash, secrets fingerprint) on the tasks'
  containers, which is what the plan and drift compare (targets/swarm/live.py).

Secrets: the token keys are Docker secrets (external: the deploy creates them, named
by their content since a secret cannot change) mounted as files under /run/secrets
in place of the key volumes the Compose files mount; a service whose Compose file
names an env file gets `env_file: <path>` (the docker CLI reads it on the deploying
machine). No value enters this document (nor git), and the config hash leaves the
path out, so two machines deploying the same manifest and secrets agree.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from release.model.desired import (
    KEYS_MOUNT,
    ROLE_PROXY,
    ROLE_WORKER,
    Desired,
    Unit,
    flag_env,
    key_volumes_of,
    merged_services,
)
from release.model.live import LABEL_CONFIG_HASH, LABEL_SECRETS_HASH, LABEL_VERSION

NETWORK = "backend"
DNS_HOLD = "30s"
CHECK_FALL = 5
CHECK_TIMEOUT = "5s"
# Between one task's successor turning healthy and the next old task stopping: the
# proxy learns of a new task by DNS (every second) and checks it once before it
# gets traffic; a loaded node needs a few seconds for that.
TASK_DELAY = "5s"
LABEL_PROXY_CONFIG = "io.ecotrack.proxy-config"
PROXY_CONFIG_TARGET = "/usr/local/etc/haproxy/haproxy.cfg"
# Compose keys that mean the same in a stack file; the rest (restart, ports,
# env_file with a variable, image variables) is set here or has no Swarm meaning.
KEPT = (
    "command",
    "entrypoint",
    "healthcheck",
    "logging",
    "stop_grace_period",
    "user",
    "volumes",
    "working_dir",
)
_SERVER_TEMPLATE = re.compile(
    r"^(\s*server-template\s+\S+\s+\d+\s+)([a-z0-9-]+):(\d+)", re.MULTILINE
)


# The services' user (build-support/macros.py): the only one that may read the keys.
SERVICE_UID = "10001"


def key_secret_name(stack: str, file: str, data: bytes) -> str:
    """A key's Docker secret: immutable, so named by its content (a rotation makes
    a new one, and the services that mount it change)."""
    return f"{stack}_{file}_{hashlib.sha256(data).hexdigest()[:12]}"


# The proxy's certificate and key (one PEM), where haproxy.cfg reads it; on Swarm a
# Docker secret named by its content (a new certificate is a new secret).
PROXY_TLS_TARGET = "/run/secrets/proxy_tls.pem"
PROXY_TLS_PORT = 443


@dataclass(frozen=True)
class ProxyTls:
    name: str
    file: str  # the PEM on the deploying machine; `docker stack deploy` reads it


def proxy_tls(pem: bytes, file: str, stack: str) -> ProxyTls:
    return ProxyTls(f"{stack}-proxy-tls-{hashlib.sha256(pem).hexdigest()[:12]}", file)


def bind_problem(bind: str) -> str:
    """Why the proxy cannot be published on `bind` ("" when it can): Swarm publishes
    a port on every interface of the node."""
    if bind in ("", "0.0.0.0", "::"):
        return ""
    return (
        f"PROXY_BIND={bind}: Swarm publishes the proxy on every interface of the "
        "node; leave PROXY_BIND unset and restrict access with the host's firewall"
    )


def _is_tls_mount(volume) -> bool:
    if isinstance(volume, Mapping):
        return volume.get("target") == PROXY_TLS_TARGET
    return f":{PROXY_TLS_TARGET}" in str(volume)


@dataclass(frozen=True)
class ProxyConfig:
    """The proxy's haproxy.cfg for Swarm, as a Swarm config named by its content."""

    name: str
    text: str


def proxy_config(haproxy_cfg: str, stack: str) -> ProxyConfig:
    """The Compose proxy's haproxy.cfg with every `server-template NAME N svc:port`
    resolving `tasks.svc` (one A record per task, no VIP), a DNS failure keeping the
    servers it knows, and failed connections to a task that just went away retried
    on another. Configs are immutable in Swarm:
    the name carries the content's hash, so a change is a new config."""
    text = _SERVER_TEMPLATE.sub(r"\1tasks.\2:\3", haproxy_cfg)
    # A slow or failed answer from Docker's DNS (a loaded node) must not put every
    # server in maintenance: keep the last answer; health checks still mark a gone
    # task down within two seconds.
    for status in ("refused", "timeout", "other"):
        text = re.sub(rf"(\n\s*hold {status}) \S+", rf"\1 {DNS_HOLD}", text)
    # Patient health checks: Swarm takes a stopping task out of DNS and its refused
    # connections are retried, so a check need not be quick to catch it; quick
    # checks on a loaded node marked every healthy task down at once.
    text = re.sub(r"(\n\s*default-server .*?)\bfall \d+", rf"\1fall {CHECK_FALL}", text)
    text = text.replace(
        "    timeout server 30s\n",
        f"    timeout server 30s\n    timeout check {CHECK_TIMEOUT}\n",
        1,
    )
    text = text.replace(
        "    option redispatch\n",
        "    option redispatch\n    retry-on conn-failure empty-response\n",
        1,
    )
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return ProxyConfig(f"{stack}-haproxy-{digest}", text)


def container_port(spec: Mapping, default: int = 8080) -> int:
    """The proxy's port inside its container, from the Compose `ports` entry."""
    for entry in spec.get("ports") or []:
        if isinstance(entry, Mapping) and "target" in entry:
            return int(entry["target"])
        tail = str(entry).rsplit(":", 1)[-1].split("/", 1)[0]
        if tail.isdigit():
            return int(tail)
    return default


def _update(order: str, monitor: int, failure_action: str) -> dict:
    return {
        "parallelism": 1,
        "delay": TASK_DELAY,
        "order": order,
        "failure_action": failure_action,
        "monitor": f"{monitor}s",
        "max_failure_ratio": 0,
    }


def service_hash(spec: Mapping) -> str:
    """The hash of a rendered service: what a change to it changes. The env file's
    path is machine-specific and left out; the secrets fingerprint label is in."""
    cfg = {k: v for k, v in spec.items() if k != "env_file"}
    cfg["labels"] = {
        k: v for k, v in (cfg.get("labels") or {}).items() if k != LABEL_CONFIG_HASH
    }
    deploy = dict(cfg.get("deploy") or {})
    deploy.pop("replicas", None)
    deploy.pop("labels", None)
    cfg["deploy"] = deploy
    text = json.dumps(cfg, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def render_service(
    unit: Unit,
    desired: Desired,
    compose_spec: Mapping,
    *,
    secrets_file: str,
    proxy_port: int,
    monitor: int,
    proxy: ProxyConfig | None,
    key_secrets: Mapping[str, str] | None = None,
    tls: ProxyTls | None = None,
) -> dict:
    spec: dict = {k: compose_spec[k] for k in KEPT if k in compose_spec}
    if unit.role == ROLE_PROXY:
        # The PEM comes as a Docker secret here, not from a path on the host.
        volumes = [v for v in spec.get("volumes", []) if not _is_tls_mount(v)]
        spec.pop("volumes", None)
        if volumes:
            spec["volumes"] = volumes
    spec["image"] = desired.image
    spec["networks"] = [NETWORK]
    if unit.env_file:
        spec["env_file"] = [secrets_file]
    if unit.key_files:
        # Swarm mounts secrets, not the Compose host's key volumes.
        volumes = [
            v for v in spec.get("volumes", []) if not key_volumes_of({"volumes": [v]})
        ]
        spec.pop("volumes", None)
        if volumes:
            spec["volumes"] = volumes
        spec["secrets"] = [
            {
                "source": (key_secrets or {})[f],
                "target": f"{KEYS_MOUNT}/{f}",
                "uid": SERVICE_UID,
                "gid": SERVICE_UID,
                "mode": 0o400,
            }
            for f in unit.key_files
        ]
    # The Compose file's environment is not kept (it may name host variables);
    # the key files' paths are set here: jwt_private_key → JWT_PRIVATE_KEY_FILE.
    environment = {f"{f.upper()}_FILE": f"{KEYS_MOUNT}/{f}" for f in unit.key_files}
    environment.update(flag_env(desired.flags))
    if environment:
        spec["environment"] = environment
    if unit.role == ROLE_PROXY and isinstance(compose_spec.get("environment"), Mapping):
        spec["environment"] = {
            **compose_spec["environment"],
            **spec.get("environment", {}),
        }
    labels = {LABEL_VERSION: desired.version}
    if desired.secrets_hash:
        labels[LABEL_SECRETS_HASH] = desired.secrets_hash
    if proxy is not None:  # a new haproxy.cfg is a change of the proxy service
        labels[LABEL_PROXY_CONFIG] = proxy.name
    spec["labels"] = labels
    start_first = unit.role not in (ROLE_PROXY, ROLE_WORKER)
    order = "start-first" if start_first else "stop-first"
    spec["deploy"] = {
        "replicas": desired.replicas,
        "endpoint_mode": "dnsrr",
        "update_config": _update(order, monitor, "rollback"),
        "rollback_config": _update(order, monitor, "pause"),
        "restart_policy": {"condition": "any", "delay": "2s"},
    }
    if unit.role == ROLE_PROXY:
        spec["ports"] = [
            {
                "target": container_port(compose_spec),
                "published": proxy_port,
                "protocol": "tcp",
                "mode": "host",
            }
        ]
        if proxy is not None:
            spec["configs"] = [{"source": "haproxy", "target": PROXY_CONFIG_TARGET}]
        if tls is not None:
            spec["ports"].append(
                {
                    "target": 8443,
                    "published": PROXY_TLS_PORT,
                    "protocol": "tcp",
                    "mode": "host",
                }
            )
            spec["secrets"] = [
                {"source": "proxy_tls", "target": PROXY_TLS_TARGET, "mode": 0o400}
            ]
            spec["labels"]["io.ecotrack.proxy-tls"] = tls.name
    h = service_hash(spec)
    spec["labels"][LABEL_CONFIG_HASH] = h
    spec["deploy"]["labels"] = dict(spec["labels"])
    return spec


def render(
    units: Sequence[Unit],
    desired: Mapping[str, Desired],
    docs: Sequence[Mapping],
    *,
    secrets_file: str,
    proxy_port: int,
    monitor: int,
    proxy: ProxyConfig | None,
    proxy_config_file: str = "",
    key_secrets: Mapping[str, str] | None = None,
    proxy_tls: ProxyTls | None = None,
) -> tuple[dict, dict[str, str]]:
    """The stack document for the `units` the manifest names, and each rendered
    service's config hash ({service: hash}), which the tasks carry as a label."""
    compose = merged_services(docs)
    services: dict[str, dict] = {}
    for unit in units:
        d = desired.get(unit.service)
        if d is None:
            continue  # not in the manifest: left as it runs
        services[unit.service] = render_service(
            unit,
            d,
            compose.get(unit.service, {}),
            secrets_file=secrets_file,
            proxy_port=proxy_port,
            monitor=monitor,
            proxy=proxy if unit.role == ROLE_PROXY else None,
            key_secrets=key_secrets,
            tls=proxy_tls if unit.role == ROLE_PROXY else None,
        )
    volumes = sorted(
        {
            str(v).split(":", 1)[0]
            for s in services.values()
            for v in s.get("volumes", [])
            if isinstance(v, str) and not str(v).startswith(("/", "."))
        }
    )
    stack: dict = {
        "version": "3.8",
        "services": services,
        "networks": {NETWORK: {"driver": "overlay"}},
    }
    if volumes:
        stack["volumes"] = {v: {} for v in volumes}
    # The key secrets are made beforehand (external); the proxy's is defined below.
    used = sorted(
        {k["source"] for s in services.values() for k in s.get("secrets", [])}
        & set((key_secrets or {}).values())
    )
    if used:
        stack["secrets"] = {name: {"external": True} for name in used}
    if proxy is not None and any("configs" in s for s in services.values()):
        stack["configs"] = {"haproxy": {"name": proxy.name, "file": proxy_config_file}}
    if proxy_tls is not None and any("secrets" in s for s in services.values()):
        stack.setdefault("secrets", {})["proxy_tls"] = {
            "name": proxy_tls.name,
            "file": proxy_tls.file,
        }
    hashes = {name: s["labels"][LABEL_CONFIG_HASH] for name, s in services.items()}
    return stack, hashes
