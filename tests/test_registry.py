"""The local registry adapter against a real registry: Debian's docker-registry on a
free port, started by the tooling itself, with real pushes from the Docker engine."""

from __future__ import annotations

import subprocess
import uuid

import httpx
import pytest

from release.adapters.registry_local import LocalRegistry, LocalRegistryConfig
from release.model.registry import RegistryError


def storage_bytes(registry: LocalRegistry) -> int:
    return sum(
        p.stat().st_size for p in registry.config.storage.rglob("*") if p.is_file()
    )


def test_ensure_running_is_idempotent(local_registry):
    pid = local_registry.config.pid_file.read_text()
    local_registry.ensure_running()
    assert local_registry.config.pid_file.read_text() == pid
    r = httpx.get(f"http://{local_registry.address}/v2/")
    assert r.status_code == 200
    assert r.headers["Docker-Distribution-Api-Version"] == "registry/2.0"


def test_push_returns_the_digest_the_registry_holds(local_registry, derive_image):
    ref = derive_image("waste")
    tag = f"t-{uuid.uuid4().hex[:8]}"
    assert not local_registry.has_tag("ecotrack/waste", tag)
    digest = local_registry.push(ref, "ecotrack/waste", tag)
    assert digest.startswith("sha256:") and len(digest) == 71
    assert local_registry.digest_of("ecotrack/waste", tag) == digest
    assert local_registry.has_tag("ecotrack/waste", tag)


def test_an_existing_tag_is_success_for_the_same_image_only(
    local_registry, derive_image
):
    ref = derive_image("waste")
    tag = f"t-{uuid.uuid4().hex[:8]}"
    digest = local_registry.push(ref, "ecotrack/waste", tag)
    before = storage_bytes(local_registry)
    assert local_registry.push(ref, "ecotrack/waste", tag) == digest
    assert storage_bytes(local_registry) == before  # nothing was pushed again
    other = derive_image("waste")
    with pytest.raises(RegistryError, match=f"waste:{tag} already exists with digest"):
        local_registry.push(other, "ecotrack/waste", tag)
    assert local_registry.digest_of("ecotrack/waste", tag) == digest


def test_retag_through_the_http_api_without_pull_or_push(local_registry, derive_image):
    ref = derive_image("auth")
    tag = f"t-{uuid.uuid4().hex[:8]}"
    digest = local_registry.push(ref, "ecotrack/auth", tag)
    before = storage_bytes(local_registry)
    local_registry.retag("ecotrack/auth", digest, f"prod-{tag}")
    assert local_registry.digest_of("ecotrack/auth", f"prod-{tag}") == digest
    local_registry.retag("ecotrack/auth", digest, f"prod-{tag}")  # idempotent
    # Only a tag link was written: no layer, no config blob.
    assert storage_bytes(local_registry) - before < 1024
    other = local_registry.push(derive_image("auth"), "ecotrack/auth", f"o-{tag}")
    with pytest.raises(RegistryError, match="tags are immutable"):
        local_registry.retag("ecotrack/auth", other, f"prod-{tag}")
    with pytest.raises(RegistryError, match="is not in the registry"):
        local_registry.retag("ecotrack/auth", "sha256:" + "0" * 64, "nope")


@pytest.fixture
def tiny_image(tmp_path):
    """A one-file image (docker import): cheap to push to an empty registry."""
    ref = f"ecotrack-test/tiny:{uuid.uuid4().hex[:8]}"
    root = tmp_path / "rootfs"
    root.mkdir()
    (root / "hello").write_text("hello\n")
    tar = subprocess.run(["tar", "-C", str(root), "-c", "."], capture_output=True)
    subprocess.run(["docker", "import", "-", ref], input=tar.stdout, check=True)
    yield ref
    subprocess.run(["docker", "rmi", "-f", ref], capture_output=True)


def test_the_tooling_starts_a_registry_on_demand(tmp_path, tiny_image, helpers):
    port = helpers.free_port()
    registry = LocalRegistry(LocalRegistryConfig(port=port, home=tmp_path))
    try:
        registry.ensure_running()
        assert (tmp_path / "config.yml").read_text() == registry.config.config_text()
        registry.ensure_running()  # already up: nothing started twice
        digest = registry.push(tiny_image, "ecotrack/auth", "x")
        assert registry.digest_of("ecotrack/auth", "x") == digest
        assert any((tmp_path / "storage").rglob("data"))
    finally:
        assert registry.stop()
    with pytest.raises(RegistryError, match="not reachable"):
        registry.digest_of("ecotrack/auth", "x")


def test_registry_down_is_one_clear_error(tmp_path, registry_down_port):
    port = registry_down_port
    registry = LocalRegistry(LocalRegistryConfig(port=port, home=tmp_path))
    with pytest.raises(RegistryError) as info:
        registry.ensure_running()
    assert str(info.value) == (
        f"127.0.0.1:{port} answers but not as a registry (HTTP 503 on /v2/); "
        "free the port or set ECOTRACK_REGISTRY_PORT"
    )
