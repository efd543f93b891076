"""HS256 access tokens: issued by auth, verified locally by other services.

Verification needs only the shared secret, so services never call auth on the
request path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from common.errors import ApiError

ALGORITHM = "HS256"
ISSUER = "auth"
_REQUIRED_CLAIMS = ["sub", "iat", "exp", "iss"]


class TokenError(Exception):
    """The token is missing, malformed, forged or expired."""


def issue_token(
    subject: str, secret: str, ttl_seconds: int = 3600, now: float | None = None
) -> str:
    issued_at = int(time.time() if now is None else now)
    claims = {
        "sub": subject,
        "iat": issued_at,
        "exp": issued_at + ttl_seconds,
        "iss": ISSUER,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(token: str, secret: str) -> dict[str, Any]:
    try:
        # Pinning algorithms prevents "alg: none"/algorithm-confusion tricks.
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": _REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("token expired") from None
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"invalid token: {exc}") from None
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise TokenError("invalid token: bad subject")
    return claims


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, {"WWW-Authenticate": "Bearer"})


# auto_error=False: we want our own 401 JSON body, not FastAPI's default.
_bearer_scheme = HTTPBearer(auto_error=False)


def bearer_claims(secret: str) -> Callable[..., dict[str, Any]]:
    """FastAPI dependency returning the verified claims or raising 401 JSON."""

    def dependency(
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer_scheme),
    ) -> dict[str, Any]:
        if credentials is None:
            raise _unauthorized("missing bearer token")
        try:
            return verify_token(credentials.credentials, secret)
        except TokenError as exc:
            raise _unauthorized(str(exc)) from None

    return dependency


def bearer_user(secret: str) -> Callable[..., str]:
    """FastAPI dependency returning the authenticated username (``sub``)."""
    claims_dependency = bearer_claims(secret)

    def dependency(claims: dict[str, Any] = Depends(claims_dependency)) -> str:
        return claims["sub"]

    return dependency
