"""Typed service settings read from environment variables.

Every service builds one immutable ``Settings`` at startup so misconfiguration
fails fast (before the port is bound) instead of on the first request.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

FEATURE_PREFIX = "FEATURE_"
# A stolen token is usable until it expires: no token lives longer than this. Here,
# not in jwt_tokens, so that only the services that sign or verify tokens depend on
# the token code and its libraries (Pants infers a service's dependencies from its
# imports, and every service reads its Settings).
MAX_TTL_SECONDS = 3600
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(RuntimeError):
    """Raised when the environment cannot produce valid settings."""


def env_str(environ: Mapping[str, str], name: str, default: str) -> str:
    value = environ.get(name, "").strip()
    return value or default


def env_int(
    environ: Mapping[str, str], name: str, default: int, minimum: int | None = None
) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


def env_float(
    environ: Mapping[str, str], name: str, default: float, minimum: float = 0.0
) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not value >= minimum:  # also rejects NaN
        raise SettingsError(f"{name} must be >= {minimum}, got {raw!r}")
    return value


def feature_flags(environ: Mapping[str, str]) -> dict[str, str]:
    """``FEATURE_NEW_UI=on`` becomes ``{"new_ui": "on"}``."""
    return {
        key[len(FEATURE_PREFIX) :].lower(): value
        for key, value in sorted(environ.items())
        if key.startswith(FEATURE_PREFIX) and len(key) > len(FEATURE_PREFIX)
    }


# (env, service name) → (signing key or None, {kid: public key}); the services that
# sign or verify tokens pass common.jwt_tokens.key_loader(...), the others none.
KeyLoader = Callable[[Mapping[str, str], str], "tuple[Any, Mapping[str, Any]]"]


@dataclass(frozen=True)
class Settings:
    service_name: str
    port: int = 8000
    database_path: str = ""
    git_sha: str = "unknown"
    image_tag: str = "dev"
    log_level: str = "INFO"
    # None/empty means "not configured"; services that sign/verify tokens refuse it.
    jwt_signing_key: Any = None  # common.jwt_tokens.SigningKey
    jwt_public_keys: Mapping[str, Any] = field(default_factory=dict)  # kid → key
    jwt_ttl_seconds: int = MAX_TTL_SECONDS
    feature_flags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.database_path:
            # Default lives on the /data volume so containers keep state.
            path = f"/data/{self.service_name}.db"
            object.__setattr__(self, "database_path", path)
        if not 0 < self.jwt_ttl_seconds <= MAX_TTL_SECONDS:
            raise SettingsError(
                f"JWT_TTL_SECONDS must be 1..{MAX_TTL_SECONDS}, "
                f"got {self.jwt_ttl_seconds}"
            )

    @classmethod
    def from_env(
        cls,
        service_name: str,
        *,
        keys: KeyLoader | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        env = os.environ if environ is None else environ
        name = env_str(env, "SERVICE_NAME", service_name)
        level = env_str(env, "LOG_LEVEL", "INFO").upper()
        if level not in _LOG_LEVELS:
            raise SettingsError(f"LOG_LEVEL must be one of {_LOG_LEVELS}, got {level}")
        port = env_int(env, "PORT", 8000, minimum=1)
        if port > 65535:
            raise SettingsError(f"PORT must be <= 65535, got {port}")
        signing, public = keys(env, name) if keys else (None, {})
        return cls(
            service_name=name,
            port=port,
            database_path=env_str(env, "DATABASE_PATH", f"/data/{name}.db"),
            git_sha=env_str(env, "GIT_SHA", "unknown"),
            image_tag=env_str(env, "IMAGE_TAG", "dev"),
            log_level=level,
            jwt_signing_key=signing,
            jwt_public_keys=public,
            jwt_ttl_seconds=env_int(env, "JWT_TTL_SECONDS", MAX_TTL_SECONDS, minimum=1),
            feature_flags=feature_flags(env),
        )

    def signing_key(self) -> Any:
        """The JWT signing key, or a clear error for services that issue tokens."""
        if self.jwt_signing_key is None:
            raise SettingsError(
                f"JWT_PRIVATE_KEY_FILE is required by {self.service_name}"
            )
        return self.jwt_signing_key

    def verifying_keys(self) -> Mapping[str, Any]:
        """The public keys by kid (the signing key's own included)."""
        keys = dict(self.jwt_public_keys)
        if self.jwt_signing_key is not None:
            keys.update(self.jwt_signing_key.public_keys())
        if not keys:
            raise SettingsError(
                f"JWT_PUBLIC_KEYS_FILE is required by {self.service_name}"
            )
        return keys
