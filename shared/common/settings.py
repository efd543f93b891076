"""Typed service settings read from environment variables.

Every service builds one immutable ``Settings`` at startup so misconfiguration
fails fast (before the port is bound) instead of on the first request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

FEATURE_PREFIX = "FEATURE_"
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# HS256 keys shorter than the hash output are brute-forceable offline.
MIN_JWT_SECRET_BYTES = 32


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


@dataclass(frozen=True)
class Settings:
    service_name: str
    port: int = 8000
    database_path: str = ""
    git_sha: str = "unknown"
    image_tag: str = "dev"
    log_level: str = "INFO"
    # None means "not configured"; services that sign/verify tokens refuse it.
    jwt_secret: str | None = None
    jwt_ttl_seconds: int = 3600
    feature_flags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.database_path:
            # Default lives on the /data volume so containers keep state.
            path = f"/data/{self.service_name}.db"
            object.__setattr__(self, "database_path", path)

    @classmethod
    def from_env(
        cls,
        service_name: str,
        *,
        require_jwt_secret: bool = False,
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
        secret = env.get("JWT_SECRET", "").strip() or None
        if require_jwt_secret and secret is None:
            raise SettingsError(
                f"JWT_SECRET is not set: {name} refuses to start without it "
                "(there is deliberately no default secret)"
            )
        return cls(
            service_name=name,
            port=port,
            database_path=env_str(env, "DATABASE_PATH", f"/data/{name}.db"),
            git_sha=env_str(env, "GIT_SHA", "unknown"),
            image_tag=env_str(env, "IMAGE_TAG", "dev"),
            log_level=level,
            jwt_secret=secret,
            jwt_ttl_seconds=env_int(env, "JWT_TTL_SECONDS", 3600, minimum=1),
            feature_flags=feature_flags(env),
        )

    @property
    def jwt_secret_is_weak(self) -> bool:
        secret = self.jwt_secret
        return secret is not None and len(secret.encode()) < MIN_JWT_SECRET_BYTES

    def require_secret(self) -> str:
        """The JWT secret, or a clear error for services that cannot run without."""
        if not self.jwt_secret:
            raise SettingsError(f"JWT_SECRET is required by {self.service_name}")
        return self.jwt_secret
