"""The stack file: pinned digests, Swarm's rolling-update settings, dnsrr, the
host-mode proxy resolving tasks.<service>, and no secret value anywhere in it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from release.model.desired import (
    ROLE_HTTP,
    ROLE_PROXY,
    ROLE_WORKER,
    Unit,
    desired_units,
    secrets_hash,
    units_from_compose,
)
from release.model.live import LABEL_CONFIG_HASH, LABEL_SECRETS_HASH, LABEL_VERSION
from release.model.manifest import Manifest, ServiceEntry
from release.targets.swarm import stack as swarm_stack

ROOT = Path(__file__).resolve().parents[4]
SECRET = "s3cr3t-value-that-must-never-be-in-the-stack-file-0123456789"
KEYS = {
    "jwt_private_key": b"-----BEGIN PRIVATE KEY-----\nPRIVATE-VALUE-0123\n",
    "jwt_public_keys": b"-----BEGIN PUBLIC KEY-----\nPUBLIC-VALUE-4567\n",
}
KEY_SECRETS = {
    f: swarm_stack.key_secret_name("ecotrack-prod", f, data) for f, data in KEYS.items()
}
DIGEST = "sha256:" + "ab" * 32


def entry(service: str, version: str = "1.0.0", **kw) -> ServiceEntry:
    return ServiceEntry(
        image=f"registry.example:5000/ecotrack/{service}:v{version}@{DIGEST}",
        version=version,
        git_sha="0000000",
        deployed_at="2026-01-01T00:00:00Z",
        deployed_by="tests",
        replicas=kw.get("replicas", 2),
        feature_flags=kw.get("flags", {}),
    )


def docs() -> list[dict]:
    gitops = ROOT / "gitops"
    return [
        yaml.safe_load((gitops / "compose.base.yaml").read_text()),
        yaml.safe_load((gitops / "environments/prod/compose.yaml").read_text()),
    ]


def rendered(flags=None, secrets=SECRET, proxy_port=80):
    units = units_from_compose(docs())
    manifest = Manifest(
        "prod",
        {
            "proxy": entry("proxy"),
            "auth": entry("auth", flags=flags or {}),
            "users": entry("users"),
            "waste": entry("waste"),
        },
    )
    desired = desired_units(manifest, units, secrets_hash({"JWT_SECRET": secrets}))
    cfg = (ROOT / "gitops/proxy/haproxy.cfg").read_text()
    proxy = swarm_stack.proxy_config(cfg, "ecotrack-prod")
    doc, hashes = swarm_stack.render(
        units,
        desired,
        docs(),
        secrets_file="/var/lib/ecotrack/secrets/ecotrack-prod.env",
        proxy_port=proxy_port,
        monitor=7,
        proxy=proxy,
        proxy_config_file="/tmp/x/haproxy.cfg",
        key_secrets=KEY_SECRETS,
    )
    return doc, hashes, proxy


def test_no_secret_value_in_the_stack_file_or_the_proxy_config():
    doc, _, proxy = rendered()
    text = json.dumps(doc)
    assert SECRET not in text and SECRET not in proxy.text
    for data in KEYS.values():
        assert data.split(b"\n")[1].decode() not in text
    assert "JWT_SECRET" not in text and "env_file" not in text
    # The keys are external Docker secrets, mounted as files the services name.
    assert doc["secrets"] == {n: {"external": True} for n in KEY_SECRETS.values()}
    services = doc["services"]
    assert services["auth"]["environment"]["JWT_PRIVATE_KEY_FILE"] == (
        "/run/secrets/jwt_private_key"
    )
    assert services["users"]["environment"] == {
        "JWT_PUBLIC_KEYS_FILE": "/run/secrets/jwt_public_keys"
    }
    mounted = {
        name: sorted((m["source"], m["target"]) for m in s.get("secrets", []))
        for name, s in services.items()
    }
    assert mounted["auth"] == sorted(
        (KEY_SECRETS[f], f"/run/secrets/{f}") for f in KEYS
    )
    # Only auth holds the signing key; the others mount no key at all.
    assert mounted["users"] == [
        (KEY_SECRETS["jwt_public_keys"], "/run/secrets/jwt_public_keys")
    ]
    assert mounted["waste"] == [] and mounted["proxy"] == []
    assert services["auth"]["secrets"][0]["mode"] == 0o400
    # The Compose hosts' key volumes have no place in a stack.
    assert "signing-keys" not in text and "public-keys" not in text


def test_images_pinned_and_only_manifest_services():
    doc, hashes, _ = rendered()
    assert sorted(doc["services"]) == [
        "auth",
        "proxy",
        "users",
        "waste",
        "waste-worker",
    ]
    for s in doc["services"].values():
        assert s["image"].endswith("@" + DIGEST)
    assert set(hashes) == set(doc["services"])
    assert doc["services"]["auth"]["labels"][LABEL_VERSION] == "1.0.0"
    assert doc["services"]["auth"]["labels"][LABEL_SECRETS_HASH]
    assert doc["services"]["auth"]["deploy"]["labels"][LABEL_CONFIG_HASH] == (
        hashes["auth"]
    )


def test_rolling_update_settings_and_endpoints():
    doc, _, proxy = rendered()
    auth = doc["services"]["auth"]["deploy"]
    assert auth["replicas"] == 2  # the manifest's count, not prod's Compose 3
    assert auth["endpoint_mode"] == "dnsrr"
    assert auth["update_config"] == {
        "parallelism": 1,
        "delay": "5s",
        "order": "start-first",
        "failure_action": "rollback",
        "monitor": "7s",
        "max_failure_ratio": 0,
    }
    assert auth["rollback_config"]["order"] == "start-first"
    # a host-mode port is one task's per node; a worker must not run twice
    for name in ("proxy", "waste-worker"):
        assert doc["services"][name]["deploy"]["update_config"]["order"] == (
            "stop-first"
        )
    assert doc["services"]["proxy"]["ports"] == [
        {"target": 8080, "published": 80, "protocol": "tcp", "mode": "host"}
    ]
    assert "restart" not in doc["services"]["auth"]  # no Swarm meaning
    assert doc["services"]["waste-worker"]["healthcheck"]["test"][0] == "CMD"
    assert doc["configs"]["haproxy"]["name"] == proxy.name
    assert doc["networks"] == {"backend": {"driver": "overlay"}}
    assert sorted(doc["volumes"]) == ["auth-data", "users-data", "waste-data"]


def test_proxy_resolves_tasks_of_each_service():
    _, _, proxy = rendered()
    assert "server-template auth 10 tasks.auth:8000" in proxy.text
    assert " auth:8000" not in proxy.text
    assert "retry-on conn-failure empty-response" in proxy.text
    assert "hold timeout 30s" in proxy.text and "hold other 30s" in proxy.text
    assert "hold obsolete 0s" in proxy.text  # a task gone from DNS goes at once
    assert "check inter 1s fall 5 rise 1" in proxy.text
    assert "    timeout check 5s\n" in proxy.text
    assert proxy.name.startswith("ecotrack-prod-haproxy-")


def test_hash_follows_what_changes_a_task():
    base = rendered()[1]
    assert rendered()[1] == base  # stable
    flags = rendered(flags={"new_ui": "on"})[1]
    assert flags["auth"] != base["auth"] and flags["waste"] == base["waste"]
    rotated = rendered(secrets="another-secret-value-0123456789abcdef")[1]
    assert rotated["auth"] != base["auth"] and rotated["waste"] == base["waste"]
    moved = rendered(proxy_port=8081)[1]
    assert moved["proxy"] != base["proxy"] and moved["auth"] == base["auth"]


@pytest.mark.parametrize(
    "ports, port",
    [
        pytest.param(["${BIND:-0.0.0.0}:${PORT:-80}:8080"], 8080, id="compose-string"),
        pytest.param([{"target": 9000, "published": 80}], 9000, id="long-form"),
        pytest.param([], 8080, id="none"),
    ],
)
def test_container_port(ports, port):
    assert swarm_stack.container_port({"ports": ports}) == port


def test_unit_roles_are_what_the_compose_path_reads():
    roles = {u.service: u.role for u in units_from_compose(docs())}
    assert roles["proxy"] == ROLE_PROXY and roles["auth"] == ROLE_HTTP
    assert roles["waste-worker"] == ROLE_WORKER
    assert isinstance(units_from_compose(docs())[0], Unit)


def test_proxy_https_from_a_docker_secret_not_a_host_path():
    units = units_from_compose(docs())
    manifest = Manifest("prod", {"proxy": entry("proxy")})
    desired = desired_units(manifest, units, secrets_hash({}))
    tls = swarm_stack.proxy_tls(b"PEM", "/secure/proxy_tls.pem", "ecotrack-prod")
    doc, _ = swarm_stack.render(
        units,
        desired,
        docs(),
        secrets_file="/x.env",
        proxy_port=80,
        monitor=7,
        proxy=None,
        proxy_tls=tls,
    )
    proxy = doc["services"]["proxy"]
    assert {"target": 8443, "published": 443, "protocol": "tcp", "mode": "host"} in (
        proxy["ports"]
    )
    assert proxy["secrets"] == [
        {"source": "proxy_tls", "target": swarm_stack.PROXY_TLS_TARGET, "mode": 0o400}
    ]
    assert doc["secrets"]["proxy_tls"] == {"name": tls.name, "file": tls.file}
    assert "volumes" not in proxy  # the Compose bind mount has no Swarm meaning
    assert proxy["environment"]["PROXY_HTTPS_ONLY"] == "1"  # staging/prod's Compose
    # a new certificate is a new secret, so the proxy rolls
    assert swarm_stack.proxy_tls(b"PEM2", tls.file, "ecotrack-prod").name != tls.name


@pytest.mark.parametrize("bind", ["", "0.0.0.0", "::"])
def test_proxy_bind_every_interface_is_what_swarm_does(bind):
    assert swarm_stack.bind_problem(bind) == ""


def test_proxy_bind_to_one_address_is_refused_not_ignored():
    assert "PROXY_BIND=127.0.0.1" in swarm_stack.bind_problem("127.0.0.1")
