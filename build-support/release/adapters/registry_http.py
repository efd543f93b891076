"""The registry HTTP API v2 (distribution): digests by HEAD, re-tagging by manifest
GET + PUT with the manifest's own media type. No image is pulled or pushed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import httpx

from release.model.registry import RegistryError, Secret, short

# Every manifest kind we may meet; the registry answers with the stored one as is.
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
ACCEPT = ", ".join(MANIFEST_TYPES)
API_VERSION_HEADER = "Docker-Distribution-Api-Version"


@dataclass(frozen=True)
class Manifest:
    body: bytes
    media_type: str
    digest: str


@dataclass(frozen=True)
class RegistryApi:
    base_url: str  # http://127.0.0.1:5000
    username: str = ""
    password: Secret | None = None
    timeout: float = 10.0

    def _client(self) -> httpx.Client:
        auth = (self.username, self.password.reveal()) if self.password else None
        return httpx.Client(base_url=self.base_url, auth=auth, timeout=self.timeout)

    def _request(self, method: str, url: str, **kwargs) -> httpx.Response:
        try:
            with self._client() as client:
                return client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise RegistryError(
                f"registry at {self.base_url} is not reachable ({type(exc).__name__})"
            ) from None

    def ping(self) -> httpx.Response:
        return self._request("GET", "/v2/")

    def digest_of(self, repository: str, reference: str) -> str | None:
        r = self._request(
            "HEAD",
            f"/v2/{repository}/manifests/{reference}",
            headers={"Accept": ACCEPT},
        )
        if r.status_code == 404:
            return None
        self._check(r, f"HEAD {repository}:{reference}")
        digest = r.headers.get("Docker-Content-Digest")
        if not digest:
            raise RegistryError(f"registry at {self.base_url} sent no digest")
        return digest

    def get_manifest(self, repository: str, digest: str) -> Manifest:
        r = self._request(
            "GET", f"/v2/{repository}/manifests/{digest}", headers={"Accept": ACCEPT}
        )
        if r.status_code == 404:
            raise RegistryError(
                f"{repository}@{short(digest)} is not in the registry at "
                f"{self.base_url}"
            )
        self._check(r, f"GET {repository}@{short(digest)}")
        actual = "sha256:" + hashlib.sha256(r.content).hexdigest()
        if actual != digest:
            raise RegistryError(
                f"registry at {self.base_url} returned {short(actual)} "
                f"for {repository}@{short(digest)}"
            )
        media_type = r.headers.get("Content-Type", "").split(";")[0].strip()
        return Manifest(r.content, media_type, digest)

    def put_manifest(self, repository: str, tag: str, manifest: Manifest) -> str:
        r = self._request(
            "PUT",
            f"/v2/{repository}/manifests/{tag}",
            content=manifest.body,
            headers={"Content-Type": manifest.media_type},
        )
        self._check(r, f"PUT {repository}:{tag}")
        digest = r.headers.get("Docker-Content-Digest", manifest.digest)
        if digest != manifest.digest:
            raise RegistryError(
                f"registry stored {repository}:{tag} as {short(digest)}, "
                f"expected {short(manifest.digest)}"
            )
        return digest

    def _check(self, r: httpx.Response, what: str) -> None:
        if r.status_code >= 400:
            raise RegistryError(
                f"registry at {self.base_url} refused {what} (HTTP {r.status_code})"
            )
