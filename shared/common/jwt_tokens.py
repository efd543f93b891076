"""EdDSA (Ed25519) access tokens: signed by auth, verified locally by the others.

Only auth holds the private key; every other service verifies with public keys, so
a verifier cannot mint tokens. Each token names its key in the `kid` header, and a
verifier holds a set of public keys (two during a rotation), chosen by kid.

Keys are PEM text: a PKCS#8 private key, SubjectPublicKeyInfo public keys (several
concatenated).
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from common.errors import ApiError
from common.settings import MAX_TTL_SECONDS, KeyLoader, SettingsError

ALGORITHM = "EdDSA"
ISSUER = "ecotrack-auth"
AUDIENCE = "ecotrack"
_REQUIRED_CLAIMS = ["sub", "iat", "exp", "iss", "aud"]
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)

PublicKeys = Mapping[str, Ed25519PublicKey]


class TokenError(Exception):
    """The token is missing, malformed, forged or expired."""


class KeyConfigError(SettingsError):
    """A key is missing, unreadable or not Ed25519 (e.g. an HS256 secret): the
    service refuses to start (common.runner)."""


def key_id(public_key: Ed25519PublicKey) -> str:
    """The kid of a key: derived from the public key, so no registry is needed."""
    raw = public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class SigningKey:
    private_key: Ed25519PrivateKey

    @property
    def kid(self) -> str:
        return key_id(self.private_key.public_key())

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        return {self.kid: self.private_key.public_key()}


def _blobs(text: str | bytes, what: str) -> list[bytes]:
    """The PEM blocks in the text."""
    data = text.encode() if isinstance(text, str) else text
    blocks = [m.group(0) for m in _PEM_BLOCK.finditer(data)]
    if not blocks:
        raise KeyConfigError(f"{what} is not PEM")
    return blocks


def _load(blob: bytes, private: bool) -> Any:
    if private:
        return serialization.load_pem_private_key(blob, password=None)
    return serialization.load_pem_public_key(blob)


def load_signing_key(text: str | bytes) -> SigningKey:
    blobs = _blobs(text, "the private key")
    if len(blobs) != 1:
        raise KeyConfigError(f"expected one private key, found {len(blobs)}")
    try:
        key = _load(blobs[0], private=True)
    except (ValueError, TypeError):
        raise KeyConfigError("the private key is not a readable PKCS#8 key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyConfigError(f"the private key is {type(key).__name__}, not Ed25519")
    return SigningKey(key)


def load_public_keys(text: str | bytes) -> dict[str, Ed25519PublicKey]:
    blobs = _blobs(text, "the public keys")
    if not blobs:
        raise KeyConfigError("no public key found")
    keys = {}
    for blob in blobs:
        try:
            key = _load(blob, private=False)
        except (ValueError, TypeError):
            raise KeyConfigError("a public key is not a readable SPKI key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyConfigError(f"a public key is {type(key).__name__}, not Ed25519")
        keys[key_id(key)] = key
    return keys


def private_pem(key: SigningKey) -> bytes:
    return key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def issue_token(
    subject: str, key: SigningKey, ttl_seconds: int = 3600, now: float | None = None
) -> str:
    if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(
            f"token TTL must be 1..{MAX_TTL_SECONDS} seconds, got {ttl_seconds}"
        )
    issued_at = int(time.time() if now is None else now)
    claims = {
        "sub": subject,
        "iat": issued_at,
        "exp": issued_at + ttl_seconds,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    return jwt.encode(
        claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid}
    )


def verify_token(token: str, keys: PublicKeys) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"invalid token: {exc}") from None
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in keys:
        raise TokenError("invalid token: unknown key id")
    try:
        # One pinned algorithm and a key object (never bytes): an HS256 token
        # "signed" with the public key, or alg "none", cannot pass.
        claims = jwt.decode(
            token,
            keys[kid],
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            audience=AUDIENCE,
            options={"require": _REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("token expired") from None
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"invalid token: {exc}") from None
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise TokenError("invalid token: bad subject")
    if not isinstance(claims["iat"], int) or claims["exp"] - claims["iat"] > (
        MAX_TTL_SECONDS
    ):
        raise TokenError("invalid token: lifetime above the cap")
    return claims


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, {"WWW-Authenticate": "Bearer"})


# auto_error=False: we want our own 401 JSON body, not FastAPI's default.
_bearer_scheme = HTTPBearer(auto_error=False)


def bearer_claims(keys: PublicKeys) -> Callable[..., dict[str, Any]]:
    """FastAPI dependency returning the verified claims or raising 401 JSON."""

    def dependency(
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer_scheme),
    ) -> dict[str, Any]:
        if credentials is None:
            raise _unauthorized("missing bearer token")
        try:
            return verify_token(credentials.credentials, keys)
        except TokenError as exc:
            raise _unauthorized(str(exc)) from None

    return dependency


def bearer_user(keys: PublicKeys) -> Callable[..., str]:
    """FastAPI dependency returning the authenticated username (``sub``)."""
    claims_dependency = bearer_claims(keys)

    def dependency(claims: dict[str, Any] = Depends(claims_dependency)) -> str:
        return claims["sub"]

    return dependency


def _key_text(env: Mapping[str, str], name: str) -> str | None:
    """The key in the file ``<name>_FILE`` names (under /run/secrets in a
    container); None when it is not set. Keys never travel as environment."""
    path = env.get(f"{name}_FILE", "").strip()
    if not path:
        return None
    try:
        return Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyConfigError(f"{name}_FILE: cannot read {path}: {exc}") from None


def load_keys(
    env: Mapping[str, str],
    service: str,
    require_signing: bool = False,
    require_public: bool = False,
) -> tuple[SigningKey | None, PublicKeys]:
    """The token keys `service` is given through ``*_FILE`` variables; KeyConfigError
    (one line) when one it needs is missing or weak, or an HS256 secret is set."""
    if env.get("JWT_SECRET", "").strip():
        raise KeyConfigError(
            f"JWT_SECRET is set: {service} refuses shared HS256 secrets; give it "
            "Ed25519 keys (JWT_PRIVATE_KEY_FILE, JWT_PUBLIC_KEYS_FILE)"
        )
    signing, public = None, {}
    try:
        text = _key_text(env, "JWT_PRIVATE_KEY")
        if text is not None:
            signing = load_signing_key(text)
        text = _key_text(env, "JWT_PUBLIC_KEYS")
        if text is not None:
            public = load_public_keys(text)
    except KeyConfigError as exc:
        raise KeyConfigError(f"{exc}: {service} needs Ed25519 keys") from None
    if require_signing and signing is None:
        raise KeyConfigError(
            f"JWT_PRIVATE_KEY_FILE is not set: {service} refuses to start without "
            "its signing key (there is deliberately no default key)"
        )
    if require_public and not public and signing is None:
        raise KeyConfigError(
            f"JWT_PUBLIC_KEYS_FILE is not set: {service} refuses to start without "
            "the public keys that verify tokens"
        )
    return signing, public


def key_loader(
    require_signing: bool = False, require_public: bool = False
) -> KeyLoader:
    """For Settings.from_env / load_settings_or_exit(keys=...): a service that signs
    tokens requires its signing key, one that verifies them its public keys."""
    return functools.partial(
        load_keys, require_signing=require_signing, require_public=require_public
    )
