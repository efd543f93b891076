"""Auth service: registration, login (JWT issuing) and token verification."""

import sqlite3
import time
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel, Field

from auth_service.passwords import (
    KdfBusy,
    KdfSlots,
    dummy_hash,
    hash_password,
    verify_password,
)
from auth_service.version import VERSION
from common.db import check_writable, migrate, transaction
from common.errors import ApiError
from common.http import create_base_app
from common.jwt_tokens import bearer_claims, issue_token, key_loader
from common.settings import Settings

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS users (
        username TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        created_at REAL NOT NULL
    )""",
]


class RegisterRequest(BaseModel):
    username: Annotated[str, Field(pattern=r"^[a-z0-9_]{3,32}$")]
    password: Annotated[str, Field(min_length=8, max_length=128)]


class LoginRequest(BaseModel):
    # Deliberately looser than registration: a malformed name is just a wrong
    # credential (401), and the policy may change without locking users out.
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=128)]


class UserOut(BaseModel):
    username: str


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class VerifyOut(BaseModel):
    sub: str
    exp: int


def _busy() -> ApiError:
    return ApiError(
        503,
        "busy",
        "too many logins in progress, retry shortly",
        {"Retry-After": "1"},
    )


def create_app(
    settings: Settings | None = None, kdf: KdfSlots | None = None
) -> FastAPI:
    if settings is None:
        keys = key_loader(require_signing=True, require_public=True)
        settings = Settings.from_env("auth", keys=keys)
    signing_key = settings.signing_key()
    # The public keys as well as our own: tokens of the previous key stay valid
    # during a rotation.
    verifying_keys = settings.verifying_keys()
    kdf = KdfSlots() if kdf is None else kdf
    db_path = settings.database_path
    migrate(db_path, SCHEMA)

    app = create_base_app(
        "auth", VERSION, settings, ready_check=lambda: check_writable(db_path)
    )

    @app.post("/register", status_code=201, response_model=UserOut, tags=["auth"])
    def register(body: RegisterRequest) -> UserOut:
        try:
            with kdf.slot():
                password_hash = hash_password(body.password)
        except KdfBusy:
            raise _busy() from None
        try:
            with transaction(db_path) as conn:
                conn.execute(
                    "INSERT INTO users (username, password_hash, created_at)"
                    " VALUES (?, ?, ?)",
                    (body.username, password_hash, time.time()),
                )
        except sqlite3.IntegrityError:
            raise ApiError(409, "username_taken", "username already exists") from None
        return UserOut(username=body.username)

    @app.post("/login", response_model=TokenOut, tags=["auth"])
    def login(body: LoginRequest) -> TokenOut:
        with transaction(db_path) as conn:
            row = conn.execute(
                "SELECT password_hash FROM users WHERE username = ?", (body.username,)
            ).fetchone()
        stored = row["password_hash"] if row else dummy_hash()
        # Always run the KDF so unknown and known users take the same time.
        try:
            with kdf.slot():
                valid = verify_password(body.password, stored)
        except KdfBusy:
            raise _busy() from None
        if not valid or row is None:
            raise ApiError(
                401,
                "invalid_credentials",
                "invalid username or password",
                {"WWW-Authenticate": "Bearer"},
            )
        token = issue_token(body.username, signing_key, settings.jwt_ttl_seconds)
        return TokenOut(access_token=token, expires_in=settings.jwt_ttl_seconds)

    @app.get("/verify", response_model=VerifyOut, tags=["auth"])
    def verify(
        claims: dict[str, Any] = Depends(bearer_claims(verifying_keys)),
    ) -> VerifyOut:
        return VerifyOut(sub=claims["sub"], exp=claims["exp"])

    return app
