"""Amazon ECR, stood in for on this machine, for processes the tests do not control
(the workflow replay's `./inv publish --registry ecr`, a simulated host's dockerd).

AWS is unreachable here. The stand-in answers at ECR's own names, so the product
runs unchanged, as it would against AWS:

- the API: moto's server (`AWS_ENDPOINT_URL`), with moto's account 123456789012;
  `get_authorization_token` answers with the registry host below;
- the registry host `123456789012.dkr.ecr.<region>.amazonaws.com`: an /etc/hosts
  line to 127.0.0.1 and a TLS proxy on 127.0.0.1:443 (a throwaway CA, trusted by
  Docker through /etc/docker/certs.d) in front of a docker-registry that holds the
  blobs. moto stores no layers, so the proxy registers each manifest pushed through
  it with the API (`put_image`) before it answers the push, as ECR would have it
  listed by then; it refuses pushes ECR refuses (an unknown repository, an existing
  immutable tag with another digest).

    with EcrStandIn(workdir) as ecr:
        ecr.env          # AWS_* for a client (the runner's credentials come from STS)
        ecr.host         # 123456789012.dkr.ecr.us-east-1.amazonaws.com
        ecr.api()        # a boto3 ECR client on the stand-in

Needs root (port 443, /etc/hosts, /etc/docker/certs.d); everything is undone on exit.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import shutil
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import httpx
from botocore.exceptions import ClientError

from release.adapters.daemons import free_port
from release.adapters.registry_local import (
    LocalRegistry,
    LocalRegistryConfig,
)

ROOT = Path(__file__).resolve().parents[1]

ACCOUNT = "123456789012"  # moto's
REGION = "us-east-1"
HOSTS_FILE = Path("/etc/hosts")
CERTS_D = Path("/etc/docker/certs.d")
_MANIFEST_PUT = re.compile(r"^/v2/(?P<repo>.+)/manifests/(?P<ref>[^/]+)$")


class EcrStandIn:
    def __init__(self, workdir: Path, region: str = REGION):
        self.dir = Path(workdir)
        self.region = region
        self.host = f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com"
        self.api_url = ""
        self._moto: subprocess.Popen | None = None
        self._registry: LocalRegistry | None = None
        self._proxy: ThreadingHTTPServer | None = None
        self._hosts_line = f"127.0.0.1 {self.host} # ecotrack-test ECR stand-in"
        self.pushes: list[tuple[str, str, str]] = []  # (repository, tag, digest)
        # Set by a test: the registry answers every request as ECR does to an expired
        # authorization token (401), so `docker login` fails.
        self.refuse_logins = False

    # -- what clients need ------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """A client's standard AWS configuration, pointed at the stand-in."""
        return {
            "AWS_ENDPOINT_URL": self.api_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }

    @property
    def registry_port(self) -> int:
        """The blob registry's own port on 127.0.0.1 (plain HTTP)."""
        return self._registry.config.port

    def api(self, service: str = "ecr", **credentials):
        return boto3.client(
            service,
            region_name=self.region,
            endpoint_url=self.api_url,
            aws_access_key_id=credentials.get("key", "testing"),
            aws_secret_access_key=credentials.get("secret", "testing"),
            aws_session_token=credentials.get("token"),
        )

    def digest(self, repository: str, tag: str) -> str | None:
        try:
            r = self.api().describe_images(
                repositoryName=repository, imageIds=[{"imageTag": tag}]
            )
        except ClientError:
            return None
        return r["imageDetails"][0]["imageDigest"]

    def images(self, repository: str) -> list[dict]:
        """Every image of `repository` the API lists ([] when it does not exist)."""
        try:
            return self.api().describe_images(repositoryName=repository)["imageDetails"]
        except ClientError:
            return []

    # -- lifecycle --------------------------------------------------------------------

    def __enter__(self) -> "EcrStandIn":
        try:
            self._start_moto()
            self._registry = LocalRegistry(
                LocalRegistryConfig(port=free_port(), home=self.dir / "registry")
            )
            self._registry.ensure_running()
            self._start_proxy()
            self._add_hosts_line()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._remove_hosts_line()
        shutil.rmtree(CERTS_D / self.host, ignore_errors=True)
        if self._proxy:
            self._proxy.shutdown()
            self._proxy.server_close()
        if self._registry:
            self._registry.stop()
        if self._moto:
            self._moto.terminate()
            self._moto.wait(timeout=10)

    def _start_moto(self) -> None:
        port = free_port()
        log = open(self.dir / "moto.log", "wb")
        self._moto = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1"]
            + ["-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.api_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{self.api_url}/moto-api/", timeout=1)
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto did not start: see {self.dir}/moto.log")
                time.sleep(0.2)

    def _start_proxy(self) -> None:
        cert, key = self._make_certificate()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        handler = type(
            "Handler",
            (_RegistryProxy,),
            {"upstream": self._registry.config.address, "standin": self},
        )
        self._proxy = ThreadingHTTPServer(("127.0.0.1", 443), handler)
        self._proxy.daemon_threads = True
        self._proxy.socket = context.wrap_socket(self._proxy.socket, server_side=True)
        threading.Thread(target=self._proxy.serve_forever, daemon=True).start()

    def _make_certificate(self) -> tuple[Path, Path]:
        """A CA and a server certificate for the registry host, CA trusted by Docker."""
        d = self.dir / "tls"
        d.mkdir(parents=True, exist_ok=True)

        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], check=True, capture_output=True)

        openssl(
            *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-subj", "/CN=ecotrack test ECR CA"),
            *("-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt")),
        )
        openssl(
            *("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={self.host}"),
            *("-keyout", str(d / "server.key"), "-out", str(d / "server.csr")),
        )
        (d / "san.ext").write_text(f"subjectAltName=DNS:{self.host}\n")
        openssl(
            *("x509", "-req", "-in", str(d / "server.csr"), "-days", "2"),
            *("-CA", str(d / "ca.crt"), "-CAkey", str(d / "ca.key")),
            *("-CAcreateserial", "-extfile", str(d / "san.ext")),
            *("-out", str(d / "server.crt")),
        )
        trusted = CERTS_D / self.host
        trusted.mkdir(parents=True, exist_ok=True)
        shutil.copy(d / "ca.crt", trusted / "ca.crt")
        return d / "server.crt", d / "server.key"

    def _add_hosts_line(self) -> None:
        text = HOSTS_FILE.read_text()
        if self._hosts_line not in text:
            HOSTS_FILE.write_text(text.rstrip("\n") + "\n" + self._hosts_line + "\n")

    def _remove_hosts_line(self) -> None:
        lines = HOSTS_FILE.read_text().splitlines()
        kept = [line for line in lines if line != self._hosts_line]
        if kept != lines:
            HOSTS_FILE.write_text("\n".join(kept) + "\n")

    # -- what the proxy asks ----------------------------------------------------------

    def refusal(
        self, repository: str, tag: str, digest: str
    ) -> tuple[int, dict] | None:
        """Why ECR would refuse this manifest push (None: it takes it)."""
        try:
            self.api().describe_repositories(repositoryNames=[repository])
        except ClientError:
            return 404, _error(
                "NAME_UNKNOWN",
                f"The repository with name '{repository}' does not exist in the "
                f"registry with id '{ACCOUNT}'",
            )
        if tag.startswith("sha256:"):
            return None
        existing = self.digest(repository, tag)
        if existing and existing != digest:
            return 400, _error(
                "TAG_INVALID",
                f"The image tag '{tag}' already exists in the '{repository}' "
                "repository and cannot be overwritten because the repository is "
                "immutable.",
            )
        return None

    def register(
        self, repository: str, tag: str, body: bytes, media_type: str, digest: str
    ):
        params = dict(
            repositoryName=repository,
            imageManifest=body.decode(),
            imageManifestMediaType=media_type,
            imageDigest=digest,
        )
        if not tag.startswith("sha256:"):
            params["imageTag"] = tag
        try:
            self.api().put_image(**params)
        except ClientError as exc:
            if "AlreadyExists" not in exc.response["Error"]["Code"]:
                raise
        self.pushes.append((repository, tag, digest))


def _error(code: str, message: str) -> dict:
    return {"errors": [{"code": code, "message": message}]}


class _RegistryProxy(BaseHTTPRequestHandler):
    """HTTPS in, the blob registry's HTTP out; manifest pushes checked and registered
    with the API around the forwarded request."""

    protocol_version = "HTTP/1.1"
    upstream = ""
    standin: EcrStandIn

    def log_message(self, *args) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _forward(self) -> None:
        body = self._body()
        if self.standin.refuse_logins:
            payload = _error(
                "DENIED",
                "Your authorization token has expired. Reauthenticate and try again.",
            )
            data = json.dumps(payload).encode()
            self.send_response(401)
            realm = f"https://{self.standin.host}/"
            self.send_header(
                "WWW-Authenticate", f'Basic realm="{realm}",service="ecr.amazonaws.com"'
            )
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        put = _MANIFEST_PUT.match(self.path.split("?", 1)[0])
        if self.command == "PUT" and put:
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            refusal = self.standin.refusal(put["repo"], put["ref"], digest)
            if refusal:
                return self._send_json(*refusal)
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in ("transfer-encoding", "content-length", "connection")
        }
        headers["X-Forwarded-Proto"] = "https"
        if body or self.command in ("PUT", "POST", "PATCH"):
            headers["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection(self.upstream, timeout=600)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            if self.command == "PUT" and put and resp.status == 201:
                self.standin.register(
                    put["repo"],
                    put["ref"],
                    body,
                    self.headers.get("Content-Type", ""),
                    resp.getheader("Docker-Content-Digest") or digest,
                )
            self.send_response(resp.status)
            length = resp.getheader("Content-Length")
            for k, v in resp.getheaders():
                if k.lower() not in (
                    "transfer-encoding",
                    "connection",
                    "content-length",
                ):
                    self.send_header(k, v)
            if self.command == "HEAD":
                self.send_header("Content-Length", length or "0")
                self.end_headers()
                return
            if length is None:  # read it all to give a length
                data = resp.read()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.send_header("Content-Length", length)
            self.end_headers()
            while chunk := resp.read(1 << 16):
                self.wfile.write(chunk)
        finally:
            conn.close()

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward
