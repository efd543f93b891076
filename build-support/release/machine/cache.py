"""The shared Pants remote cache (REAPI, served by BuildGrid): pure rendering.

- `server_config`: BuildGrid's YAML (disk CAS, LRU action cache, JWT auth with an
  ACL: the `writer` subject may do everything, the `reader` subject only reads);
- `acl_config`: that ACL, the file BuildGrid reads beside it;
- `mint_token`: an HS256 JWT for one role (no third-party library), short-lived:
  DEFAULT_TOKEN_DAYS, never more than MAX_TOKEN_DAYS;
- `check_bind`: off loopback only with TLS (gRPC carries the tokens);
- `pants_env`: the PANTS_* variables a build uses for a cache address, token file
  and write permission, or none (local cache only) with a one-line notice.

Standard library only and Python 3.9 compatible: `./pants` runs this file with the Pants
venv's interpreter (`python machine/cache.py pants-env`) to turn ECOTRACK_CACHE_* into
PANTS_* before Pants starts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import os
import shlex
import socket
import sys
import time
from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Tuple
from urllib.parse import urlsplit

ROLES = ("writer", "reader")
# The REAPI calls a read-only client needs (BuildGrid authorizes by method name).
READ_REQUESTS = (
    "GetCapabilities",
    "GetActionResult",
    "FindMissingBlobs",
    "BatchReadBlobs",
    "GetTree",
    "Read",
)
# The environment a build reads (CI secrets, a laptop's shell).
ADDRESS_VAR = "ECOTRACK_CACHE_ADDRESS"  # grpc://host:port (grpcs:// for TLS)
TOKEN_FILE_VAR = "ECOTRACK_CACHE_TOKEN_FILE"  # a file holding the JWT
CA_FILE_VAR = "ECOTRACK_CACHE_CA_FILE"  # with grpcs://: the CA that signed the server
WRITE_VAR = "ECOTRACK_CACHE_WRITE"  # "true" on trusted builds only
TRUE = ("1", "true", "yes", "on")
DEFAULT_MAX_REFS = 200_000
THREAD_POOL = 256
# Tokens are bearer secrets copied into CI: a leaked one must die on its own soon.
DEFAULT_TOKEN_DAYS = 3.0
MAX_TOKEN_DAYS = 7.0


class CacheConfigError(ValueError):
    """Bad cache settings; the message is one line for the user."""


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    data_dir: str
    max_cached_refs: int = DEFAULT_MAX_REFS
    tls_cert: str = ""  # PEM server certificate (with tls_key: the channel is TLS)
    tls_key: str = ""
    token_days: float = DEFAULT_TOKEN_DAYS

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert and self.tls_key)

    @property
    def address(self) -> str:
        return f"{'grpcs' if self.tls else 'grpc'}://{self.host}:{self.port}"

    @property
    def cas_dir(self) -> str:
        return os.path.join(self.data_dir, "cas")

    @property
    def secret_path(self) -> str:
        return os.path.join(self.data_dir, "auth.secret")

    @property
    def acl_path(self) -> str:
        return os.path.join(self.data_dir, "acl.yml")

    @property
    def metrics_path(self) -> str:
        return os.path.join(self.data_dir, "metrics.statsd")

    def token_path(self, role: str) -> str:
        return os.path.join(self.data_dir, f"{role}.jwt")


def check_port(port: int) -> int:
    if not 0 < int(port) < 65536:
        raise CacheConfigError(f"port {port} is out of range (1-65535)")
    return int(port)


def is_loopback(host: str) -> bool:
    # As adapters/agent_http.is_loopback: this file runs standalone under Pants'
    # Python 3.9 (see the docstring), so it imports nothing from release.
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_days(days: float) -> float:
    if not 0 < float(days) <= MAX_TOKEN_DAYS:
        raise CacheConfigError(
            f"token lifetime {days} days is out of range (0-{MAX_TOKEN_DAYS:g} days)"
        )
    return float(days)


def check_settings(s: ServerSettings) -> ServerSettings:
    """The settings a server may start with: a port, a token lifetime within the
    cap, TLS as a pair, and TLS whenever the bind is off loopback."""
    check_port(s.port)
    check_days(s.token_days)
    if bool(s.tls_cert) != bool(s.tls_key):
        raise CacheConfigError("TLS needs both --tls-cert and --tls-key")
    for path in (s.tls_cert, s.tls_key):
        if path and not os.path.isfile(path):
            raise CacheConfigError(f"TLS file {path} does not exist")
    if not is_loopback(s.host) and not s.tls:
        raise CacheConfigError(
            f"--bind {s.host} is off loopback: the cache's tokens would cross the "
            "network in clear; give --tls-cert and --tls-key"
        )
    return s


def _quote(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid YAML scalar


def server_config(s: ServerSettings) -> str:
    """BuildGrid's configuration: CAS, ByteStream and ActionCache under instance ''."""
    check_port(s.port)
    if s.tls:
        channel = f"""\
    insecure-mode: false
    credentials:
      tls-server-key: {_quote(s.tls_key)}
      tls-server-cert: {_quote(s.tls_cert)}"""
    else:  # loopback only (check_settings)
        channel = "    insecure-mode: true"
    return f"""\
# Written by ./inv cache up: do not edit (it is rewritten on every start).
server:
  - !channel
    address: {_quote(f"{s.host}:{s.port}")}
{channel}
authorization:
  method: jwt
  secret: {_quote(s.secret_path)}
  algorithm: hs256
  acl-config: {_quote(s.acl_path)}
monitoring:
  enabled: true
  endpoint-type: file
  endpoint-location: {_quote(s.metrics_path)}
  serialization-format: statsd
  metric-prefix: bgd
  tag-format: influx-statsd
storages:
  - !disk-storage &cas
    path: {_quote(s.cas_dir)}
caches:
  - !lru-action-cache &actions
    storage: *cas
    max-cached-refs: {int(s.max_cached_refs)}
    allow-updates: true
    cache-failed-actions: false
# gRPC refuses calls beyond the pool (RESOURCE_EXHAUSTED): room for Pants' 128
# concurrent cache RPCs per client.
thread-pool-size: {THREAD_POOL}
instances:
  - name: ''
    services:
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
      - !action-cache
        cache: *actions
"""


def acl_config() -> str:
    reads = ", ".join(READ_REQUESTS)
    return f"""\
# Instance '': the writer token may read and write, the reader token only read.
"":
  allow:
    - subject: "^writer$"
    - subject: "^reader$"
      requests: [{reads}]
"""


def _b64(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def mint_token(
    secret: bytes, role: str, days: float, now: Optional[float] = None
) -> str:
    """An HS256 JWT whose subject is the role; BuildGrid requires `exp`, and it is
    at most MAX_TOKEN_DAYS away."""
    if role not in ROLES:
        raise CacheConfigError(f"unknown role '{role}' (known: {', '.join(ROLES)})")
    check_days(days)
    issued = int(now if now is not None else time.time())
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": role, "iat": issued, "exp": issued + int(days * 86400)}
    payload = _b64(json.dumps(claims, sort_keys=True).encode())
    signature = _b64(hmac.new(secret, header + b"." + payload, hashlib.sha256).digest())
    return (header + b"." + payload + b"." + signature).decode()


def token_claims(token: str) -> Dict[str, object]:
    """The (unverified) claims of a JWT, to show its role and expiry."""
    try:
        payload = token.strip().split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError) as exc:
        raise CacheConfigError("the cache token is not a JWT") from exc


def verify_token(secret: bytes, token: str) -> bool:
    """Whether the token's HS256 signature is this secret's."""
    try:
        header, payload, signature = token.strip().split(".")
    except ValueError:
        return False
    expected = _b64(
        hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    )
    return hmac.compare_digest(expected.decode(), signature)


def action_cache_counts(statsd: str) -> Dict[str, int]:
    """Action cache hits, misses, writes and refused calls, from BuildGrid's statsd
    metrics (one `bgd.rpc.duration.ms,...,method=M,...,status=S:...` line per call)."""
    counts = {"hits": 0, "misses": 0, "writes": 0, "denied": 0}
    for line in statsd.splitlines():
        if not line.startswith("bgd.rpc.duration.ms,"):
            continue
        tags = dict(
            t.split("=", 1) for t in line.split(":", 1)[0].split(",")[1:] if "=" in t
        )
        method, status = tags.get("method"), tags.get("status")
        if status in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
            counts["denied"] += 1
        elif method == "GetActionResult" and status == "OK":
            counts["hits"] += 1
        elif method == "GetActionResult" and status == "NOT_FOUND":
            counts["misses"] += 1
        elif method == "UpdateActionResult" and status == "OK":
            counts["writes"] += 1
    return counts


def parse_address(address: str) -> Tuple[str, str, int]:
    """(scheme, host, port) of grpc://host:port or grpcs://host:port."""
    parts = urlsplit(address.strip())
    if parts.scheme not in ("grpc", "grpcs") or not parts.hostname:
        raise CacheConfigError(
            f"cache address '{address}' is not grpc://HOST:PORT or grpcs://HOST:PORT"
        )
    try:
        port = parts.port or (443 if parts.scheme == "grpcs" else 80)
    except ValueError as exc:
        raise CacheConfigError(f"cache address '{address}' has a bad port") from exc
    return parts.scheme, parts.hostname, port


def reachable(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pants_env(
    environ: Mapping[str, str], probe=reachable
) -> Tuple[Dict[str, str], Optional[str]]:
    """PANTS_* options for the remote cache, and a notice (or None) for the user.

    No address: nothing, silently. Address but the server does not answer, or no
    readable token: nothing (local cache only) and a one-line notice: a build never
    fails because of the cache. Writes only when ECOTRACK_CACHE_WRITE is true.
    """
    address = environ.get(ADDRESS_VAR, "").strip()
    if not address:
        return {}, None
    try:
        _, host, port = parse_address(address)
    except CacheConfigError as exc:
        return {}, f"remote cache off: {exc}"
    token_file = environ.get(TOKEN_FILE_VAR, "").strip()
    if not token_file or not os.path.isfile(token_file):
        return {}, (
            f"remote cache off: {TOKEN_FILE_VAR} does not name a token file "
            "(local cache only)"
        )
    if not probe(host, port):
        return {}, f"remote cache {address} does not answer: local cache only"
    write = environ.get(WRITE_VAR, "").strip().lower() in TRUE
    ca_file = environ.get(CA_FILE_VAR, "").strip()
    tls = {"PANTS_REMOTE_CA_CERTS_PATH": os.path.abspath(ca_file)} if ca_file else {}
    env = {
        **tls,
        "PANTS_REMOTE_CACHE_READ": "true",
        "PANTS_REMOTE_CACHE_WRITE": "true" if write else "false",
        "PANTS_REMOTE_STORE_ADDRESS": address,
        "PANTS_REMOTE_INSTANCE_NAME": "",
        "PANTS_REMOTE_OAUTH_BEARER_TOKEN_PATH": os.path.abspath(token_file),
        # One warning per failure kind, then quieter: a dying server costs no noise.
        "PANTS_REMOTE_CACHE_WARNINGS": "backoff",
    }
    return env, f"remote cache {address} ({'read-write' if write else 'read-only'})"


def pants_flags(env: Mapping[str, str]) -> list:
    """The same options as command-line flags (for runs with an explicit config)."""
    flags = []
    for key, value in sorted(env.items()):
        name = key[len("PANTS_") :].lower().replace("_", "-")
        flags.append(f"--{name}={value}")
    return flags


def main(argv: list) -> int:
    """`python machine/cache.py pants-env`: shell `export` lines for ./pants to eval;
    the notice goes to stderr."""
    if argv[1:] != ["pants-env"]:
        print("usage: machine/cache.py pants-env", file=sys.stderr)
        return 2
    env, notice = pants_env(os.environ)
    if notice:
        print(f"pants: {notice}", file=sys.stderr)
    for key, value in env.items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
