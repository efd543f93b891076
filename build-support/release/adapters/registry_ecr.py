"""Amazon ECR through boto3, with the standard AWS configuration (AWS_PROFILE,
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, instance roles; AWS_REGION; AWS_ENDPOINT_URL).

- Repositories are ensured on first use: tag immutability on, scan on push, and a
  lifecycle policy that keeps enough images for rollbacks (`lifecycle_policy`).
- `get_authorization_token` logs the Docker client in (the token goes through stdin
  and never prints); images are pushed with the Docker CLI.
- "This tag already exists" is success when it holds the same digest.
- Re-tagging (promotion) is `batch_get_image` + `put_image`: no pull, no push.

`push_registry` (given by tests only, never read from the environment) names a
registry that receives the blobs in place of ECR's own endpoint. The test suite runs
moto's server as ECR's API, and moto stores no layers: images go to a local registry
and their manifests are registered with the API through `put_image`, so every ECR
call above still runs against it.
"""

from __future__ import annotations

import base64
import json
import os

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from release.adapters import docker_images
from release.adapters.registry_http import MANIFEST_TYPES, Manifest, RegistryApi
from release.model.registry import (
    CredentialsError,
    RegistryError,
    Secret,
    accept_existing,
    short,
    verify_tag,
)

_ALREADY_EXISTS = ("ImageAlreadyExistsException", "ImageTagAlreadyExistsException")
_NOT_FOUND = ("ImageNotFoundException", "RepositoryNotFoundException")
_BAD_CREDENTIALS = (
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "AccessDeniedException",
)


def lifecycle_policy(
    keep_promoted: int = 200, keep_images: int = 100, untagged_days: int = 14
) -> dict:
    """What ECR may expire. Images promoted to prod or staging (tags `prod-*`,
    `staging-*`) are kept longest, then the newest `keep_images` published images
    (`<branch>-<sha>`): enough to roll back; untagged leftovers go after some days.
    A rule protects what it matches from rules of lower priority."""

    def keep_newest(priority: int, pattern: str, count: int) -> dict:
        return {
            "rulePriority": priority,
            "description": f"keep the newest {count} {pattern} images",
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": [pattern],
                "countType": "imageCountMoreThan",
                "countNumber": count,
            },
            "action": {"type": "expire"},
        }

    return {
        "rules": [
            keep_newest(1, "prod-*", keep_promoted),
            keep_newest(2, "staging-*", keep_promoted),
            {
                "rulePriority": 3,
                "description": f"expire untagged images after {untagged_days} days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": untagged_days,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 4,
                "description": f"keep the newest {keep_images} published images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": keep_images,
                },
                "action": {"type": "expire"},
            },
        ]
    }


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class EcrRegistry:
    kind = "ecr"

    def __init__(self, client, push_registry: str | None = None) -> None:
        self.client = client
        self.push_registry = push_registry
        self._auth: tuple[str, str, Secret] | None = None  # host, user, password
        self._ensured: set[str] = set()

    @classmethod
    def from_env(cls, push_registry: str | None = None) -> "EcrRegistry":
        """ECR from the standard AWS configuration. `push_registry`: where the blobs
        go instead, for a stand-in of the ECR API that stores none (moto, in the
        tests); the image is then registered with the ECR API as pushed."""
        try:
            session = boto3.session.Session()
        except BotoCoreError as exc:  # e.g. AWS_PROFILE names no profile
            raise CredentialsError(f"AWS configuration: {exc}") from None
        # botocore reads AWS_DEFAULT_REGION and profiles; other SDKs use AWS_REGION.
        region = session.region_name or os.environ.get("AWS_REGION")
        if not region:
            raise RegistryError(
                "no AWS region configured: set AWS_REGION or a profile's region"
            )
        config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2})
        client = session.client("ecr", region_name=region, config=config)
        return cls(client, push_registry)

    # -- calls ----------------------------------------------------------------------

    def _call(self, operation: str, expected: tuple[str, ...] = (), **params):
        """One ECR API call. SDK failures become one-line RegistryErrors, except the
        error codes the caller `expected`, which stay ClientErrors for it to handle."""
        try:
            return getattr(self.client, operation)(**params)
        except (NoCredentialsError, PartialCredentialsError):
            raise CredentialsError(
                "AWS credentials not found: configure a profile (AWS_PROFILE), "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an instance role"
            ) from None
        except EndpointConnectionError:
            raise RegistryError(
                f"ECR is not reachable at {self.client.meta.endpoint_url}"
            ) from None
        except ClientError as exc:
            if _code(exc) in expected:
                raise
            if _code(exc) in _BAD_CREDENTIALS:
                raise CredentialsError(
                    f"AWS rejected the credentials ({_code(exc)})"
                ) from None
            message = exc.response.get("Error", {}).get("Message", "")
            raise RegistryError(
                f"ECR {operation} failed: {_code(exc)} {message}".strip()
            ) from None
        except BotoCoreError as exc:
            raise RegistryError(f"ECR {operation} failed: {exc}") from None

    # -- lifecycle ------------------------------------------------------------------

    def _authorization(self) -> tuple[str, str, Secret]:
        if self._auth is None:
            data = self._call("get_authorization_token")["authorizationData"][0]
            user, _, password = (
                base64.b64decode(data["authorizationToken"]).decode().partition(":")
            )
            host = data["proxyEndpoint"].split("://", 1)[-1].rstrip("/")
            self._auth = (host, user, Secret(password))
        return self._auth

    @property
    def address(self) -> str:
        return self._authorization()[0]

    @property
    def push_host(self) -> str:
        return self.push_registry or self.address

    def ensure_running(self) -> None:
        """ECR is a service: this checks credentials and reachability."""
        self._authorization()

    def login(self) -> None:
        _, user, password = self._authorization()
        docker_images.login(self.push_host, user, password)

    def ensure_repository(self, repository: str) -> None:
        if repository in self._ensured:
            return
        try:
            repo = self._call(
                "describe_repositories",
                expected=("RepositoryNotFoundException",),
                repositoryNames=[repository],
            )["repositories"][0]
        except ClientError:
            repo = self._call(
                "create_repository",
                repositoryName=repository,
                imageTagMutability="IMMUTABLE",
                imageScanningConfiguration={"scanOnPush": True},
            )["repository"]
        if repo.get("imageTagMutability") != "IMMUTABLE":
            self._call(
                "put_image_tag_mutability",
                repositoryName=repository,
                imageTagMutability="IMMUTABLE",
            )
        if not repo.get("imageScanningConfiguration", {}).get("scanOnPush"):
            self._call(
                "put_image_scanning_configuration",
                repositoryName=repository,
                imageScanningConfiguration={"scanOnPush": True},
            )
        self._ensure_lifecycle_policy(repository)
        self._ensured.add(repository)

    def _ensure_lifecycle_policy(self, repository: str) -> None:
        wanted = lifecycle_policy()
        try:
            text = self._call(
                "get_lifecycle_policy",
                expected=("LifecyclePolicyNotFoundException",),
                repositoryName=repository,
            )["lifecyclePolicyText"]
            if json.loads(text) == wanted:
                return
        except ClientError:
            pass  # no policy yet
        self._call(
            "put_lifecycle_policy",
            repositoryName=repository,
            lifecyclePolicyText=json.dumps(wanted, sort_keys=True),
        )

    # -- images ---------------------------------------------------------------------

    def push(self, local_ref: str, repository: str, tag: str) -> str:
        self.ensure_repository(repository)
        record = f"{self.address}/{repository}"
        name = f"{self.push_host}/{repository}"
        existing = self.digest_of(repository, tag)
        if existing is not None:
            pushed = docker_images.pushed_digests(local_ref, name)
            return accept_existing(record, tag, existing, pushed)
        docker_images.tag(local_ref, f"{name}:{tag}")
        try:
            digest = docker_images.push(f"{name}:{tag}")
        except RegistryError:
            # Immutable tags: someone may have pushed this very image meanwhile.
            existing = self.digest_of(repository, tag)
            if existing and existing in docker_images.pushed_digests(local_ref, name):
                return existing
            raise
        if self.push_registry:
            # Stand-in mode: the blobs went elsewhere; register the manifest with the
            # ECR API exactly as pushed (same bytes, same digest).
            manifest = self._blob_api().get_manifest(repository, digest)
            self._put_image(repository, tag, manifest)
        verify_tag(record, tag, digest, self.digest_of(repository, tag))
        return digest

    def digest_of(self, repository: str, tag: str) -> str | None:
        try:
            r = self._call(
                "describe_images",
                expected=_NOT_FOUND,
                repositoryName=repository,
                imageIds=[{"imageTag": tag}],
            )
        except ClientError:
            return None
        details = r.get("imageDetails") or []
        return details[0]["imageDigest"] if details else None

    def has_tag(self, repository: str, tag: str) -> bool:
        return self.digest_of(repository, tag) is not None

    def retag(self, repository: str, digest: str, new_tag: str) -> None:
        r = self._call(
            "batch_get_image",
            repositoryName=repository,
            imageIds=[{"imageDigest": digest}],
            acceptedMediaTypes=list(MANIFEST_TYPES),
        )
        images = [i for i in r.get("images") or [] if i.get("imageManifest")]
        if not images:
            raise RegistryError(
                f"{self.address}/{repository}@{short(digest)} is not in ECR"
            )
        body = images[0]["imageManifest"].encode()
        media_type = images[0].get("imageManifestMediaType") or json.loads(body).get(
            "mediaType", MANIFEST_TYPES[0]
        )
        manifest = Manifest(body, media_type, digest)
        self._put_image(repository, new_tag, manifest)
        if self.push_registry:  # keep the stand-in's blob store tagged alike
            self._blob_api().put_manifest(repository, new_tag, manifest)

    def _put_image(self, repository: str, tag: str, manifest: Manifest) -> None:
        try:
            self._call(
                "put_image",
                expected=_ALREADY_EXISTS,
                repositoryName=repository,
                imageManifest=manifest.body.decode(),
                imageManifestMediaType=manifest.media_type,
                imageTag=tag,
                imageDigest=manifest.digest,
            )
        except ClientError:
            actual = self.digest_of(repository, tag)
            if actual != manifest.digest:
                raise RegistryError(
                    f"{self.address}/{repository}:{tag} already points at "
                    f"{short(actual or 'nothing')}, not {short(manifest.digest)}; "
                    "tags are immutable"
                ) from None

    def _blob_api(self) -> RegistryApi:
        return RegistryApi(f"http://{self.push_registry}")
