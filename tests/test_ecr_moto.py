"""The ECR adapter against moto's server, which stands in for AWS here.

moto answers ECR's API (repositories, authorization tokens, images, put_image,
batch_get_image, lifecycle policies) on 127.0.0.1; it stores no layers, so the blobs
go to this run's local registry (EcrRegistry's push_registry, injected by the `ecr`
fixture) and the adapter registers each pushed manifest with the API. No AWS account
and no network beyond 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import boto3
import httpx
import pytest

from release.adapters.registry_ecr import EcrRegistry, lifecycle_policy
from release.gitops import promote
from release.gitops import store as manifest_store
from release.model.registry import RegistryError
from release.publish import pipeline as publish

ACCOUNT_HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
MANIFEST_MEDIA_TYPES = (  # what `docker push` may have sent, any of them
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)


@pytest.fixture(scope="module")
def moto_server(helpers, tmp_path_factory):
    port = helpers.free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "moto_server"),
            "-H",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/moto-api/", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(timeout=10)
    log.close()


@pytest.fixture(scope="module")
def ecr_env(moto_server, local_registry, tmp_path_factory):
    """Standard AWS configuration pointed at moto; blobs to the local registry."""
    values = {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        # docker login writes here, not into the developer's ~/.docker
        "DOCKER_CONFIG": str(tmp_path_factory.mktemp("docker-config")),
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in values.items():
            mp.setenv(key, value)
        mp.delenv("AWS_PROFILE", raising=False)
        yield values


@pytest.fixture
def ecr(ecr_env, local_registry):
    registry = EcrRegistry.from_env(push_registry=local_registry.address)
    registry.ensure_running()
    return registry


def api():
    return boto3.client("ecr", region_name="us-east-1")


def test_repositories_are_immutable_scanned_and_have_a_lifecycle_policy(ecr):
    repository = f"ecotrack/r-{uuid.uuid4().hex[:6]}"
    ecr.ensure_repository(repository)
    EcrRegistry.from_env().ensure_repository(repository)  # idempotent
    repo = api().describe_repositories(repositoryNames=[repository])["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True
    text = api().get_lifecycle_policy(repositoryName=repository)["lifecyclePolicyText"]
    assert json.loads(text) == lifecycle_policy()


def test_login_never_prints_the_token(ecr, ecr_env, local_registry, capfd):
    assert ecr.address == ACCOUNT_HOST
    token = api().get_authorization_token()["authorizationData"][0]
    ecr.login()
    out, err = capfd.readouterr()
    password = ecr._authorization()[2].reveal()
    assert password and password not in out + err
    assert token["authorizationToken"] not in out + err
    config = json.loads((Path(ecr_env["DOCKER_CONFIG"]) / "config.json").read_text())
    assert local_registry.address in config["auths"]


def sha256(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def test_push_reads_the_digest_back_from_ecr(ecr, derive_image, local_registry):
    tag = f"main-{uuid.uuid4().hex[:7]}"
    digest = ecr.push(derive_image("waste"), "ecotrack/waste", tag)
    # The digest is the manifest's own, computed here from bytes the adapter does not
    # hand us: those ECR's API holds for the tag, and those the registry holding the
    # blobs serves for it (a digest that names no manifest cannot pass).
    held = api().batch_get_image(
        repositoryName="ecotrack/waste", imageIds=[{"imageTag": tag}]
    )["images"]
    assert len(held) == 1, held
    assert sha256(held[0]["imageManifest"].encode()) == digest
    served = httpx.get(
        f"http://{local_registry.address}/v2/ecotrack/waste/manifests/{tag}",
        headers={"Accept": ", ".join(MANIFEST_MEDIA_TYPES)},
        timeout=10,
    )
    assert served.status_code == 200, served.text[:300]
    assert sha256(served.content) == digest
    assert served.content == held[0]["imageManifest"].encode()
    described = api().describe_images(
        repositoryName="ecotrack/waste", imageIds=[{"imageTag": tag}]
    )["imageDetails"][0]
    assert described["imageDigest"] == digest
    assert ecr.digest_of("ecotrack/waste", tag) == digest
    assert local_registry.digest_of("ecotrack/waste", tag) == digest  # the blobs
    assert ecr.digest_of("ecotrack/waste", "never-pushed") is None


def test_an_existing_tag_is_success_only_with_the_same_digest(ecr, derive_image):
    ref, tag = derive_image("auth"), f"main-{uuid.uuid4().hex[:7]}"
    digest = ecr.push(ref, "ecotrack/auth", tag)
    assert ecr.push(ref, "ecotrack/auth", tag) == digest
    with pytest.raises(RegistryError, match="already exists with digest"):
        ecr.push(derive_image("auth"), "ecotrack/auth", tag)


def test_retag_is_batch_get_image_plus_put_image(ecr, derive_image):
    tag = f"main-{uuid.uuid4().hex[:7]}"
    digest = ecr.push(derive_image("auth"), "ecotrack/auth", tag)
    ecr.retag("ecotrack/auth", digest, f"prod-{tag}")
    ecr.retag("ecotrack/auth", digest, f"prod-{tag}")  # "already exists": same digest
    assert ecr.digest_of("ecotrack/auth", f"prod-{tag}") == digest
    other = ecr.push(derive_image("auth"), "ecotrack/auth", f"other-{tag}")
    with pytest.raises(RegistryError, match="tags are immutable"):
        ecr.retag("ecotrack/auth", other, f"prod-{tag}")


def test_publish_then_promote_on_ecr(ecr, scratch_repo, derive_image, helpers):
    def build(selected, info):
        return {s.name: derive_image(s.name) for s in selected}

    tools = publish.Tools(
        registry=ecr,
        build=build,
        affected=lambda ref, root: [],
        now=lambda: datetime(2026, 11, 28, tzinfo=timezone.utc),
    )
    request = publish.PublishRequest(env="staging", registry="ecr")
    published = publish.publish(request, root=scratch_repo, tools=tools)
    staging = manifest_store.read("staging", scratch_repo)
    for p in published.published:
        assert staging.services[p.service].image.startswith(f"{ACCOUNT_HOST}/ecotrack/")

    result = promote.promote("staging", "prod", root=scratch_repo)  # registry from
    prod = manifest_store.read("prod", scratch_repo)  # the images' host: ECR (moto)
    for p in result.promoted:
        entry = prod.services[p.service]
        assert entry.image_ref.digest == staging.services[p.service].image_ref.digest
        assert ecr.digest_of(f"ecotrack/{p.service}", p.tag) == p.digest
        assert p.tag.startswith("prod-main-")
    subject = helpers.git_log(scratch_repo)[0].split(" ", 1)[1]
    assert subject.startswith("release(prod): auth 1.0.0 prod-main-")


def test_aws_credentials_missing_is_one_line(
    helpers, tmp_path_factory, moto_server, local_registry
):
    repo = helpers.make_tooling_clone(tmp_path_factory.mktemp("clone-ecr"))
    path = repo / "gitops" / "versions" / "staging.json"
    before, log = path.read_bytes(), helpers.git_log(repo)
    env = {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": None,
        "AWS_SECRET_ACCESS_KEY": None,
        "AWS_SESSION_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    r = helpers.inv_in(
        repo,
        "publish",
        "--registry",
        "ecr",
        "--env",
        "staging",
        "--service",
        "waste",
        env=env,
    )
    assert r.returncode == 1
    assert r.stderr.strip() == (
        "error: AWS credentials not found: configure a profile (AWS_PROFILE), "
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an instance role"
    )
    assert path.read_bytes() == before and helpers.git_log(repo) == log


def test_ecr_unreachable_is_one_line(ecr_env, helpers, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{helpers.free_port()}")
    with pytest.raises(
        RegistryError, match="^ECR is not reachable at http://127.0.0.1:"
    ):
        EcrRegistry.from_env().ensure_running()
