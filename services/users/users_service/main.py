"""Users service: profiles keyed by the JWT subject issued by auth."""

import sqlite3
import time
from typing import Annotated

from fastapi import Depends, FastAPI, Path
from pydantic import BaseModel, Field, field_validator

from common.db import check_writable, migrate, transaction
from common.errors import ApiError
from common.http import create_base_app
from common.jwt_tokens import bearer_user, key_loader
from common.settings import Settings
from users_service.version import VERSION

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS profiles (
        username TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        email TEXT NOT NULL,
        city TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )""",
]

DisplayName = Annotated[str, Field(min_length=1, max_length=64)]
# Deliberately simple (one "@", a dot in the domain, no spaces): real validation
# is a confirmation email, not a regex.
Email = Annotated[
    str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
]
City = Annotated[str, Field(min_length=1, max_length=64)]


class ProfileCreate(BaseModel):
    display_name: DisplayName
    email: Email
    city: City | None = None


class ProfilePatch(BaseModel):
    display_name: DisplayName | None = None
    email: Email | None = None
    city: City | None = None  # explicit null clears the city

    @field_validator("display_name", "email")
    @classmethod
    def not_null(cls, value: str | None) -> str:
        # Omit a field to keep it; only city may be cleared with null.
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class PublicProfile(BaseModel):
    username: str
    display_name: str
    city: str | None


class Profile(PublicProfile):
    email: str


def _get(db_path: str, username: str) -> sqlite3.Row | None:
    with transaction(db_path) as conn:
        return conn.execute(
            "SELECT * FROM profiles WHERE username = ?", (username,)
        ).fetchone()


def _not_found() -> ApiError:
    return ApiError(404, "profile_not_found", "profile not found")


def create_app(settings: Settings | None = None) -> FastAPI:
    if settings is None:
        settings = Settings.from_env("users", keys=key_loader(require_public=True))
    db_path = settings.database_path
    migrate(db_path, SCHEMA)
    app = create_base_app(
        "users", VERSION, settings, ready_check=lambda: check_writable(db_path)
    )
    CurrentUser = Annotated[str, Depends(bearer_user(settings.verifying_keys()))]

    @app.post("/profiles/me", status_code=201, response_model=Profile, tags=["users"])
    def create_profile(body: ProfileCreate, user: CurrentUser) -> Profile:
        now = time.time()
        try:
            with transaction(db_path) as conn:
                conn.execute(
                    "INSERT INTO profiles (username, display_name, email, city,"
                    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (user, body.display_name, body.email, body.city, now, now),
                )
        except sqlite3.IntegrityError:
            raise ApiError(409, "profile_exists", "profile already exists") from None
        return Profile(username=user, **body.model_dump())

    @app.get("/profiles/me", response_model=Profile, tags=["users"])
    def read_own_profile(user: CurrentUser) -> Profile:
        row = _get(db_path, user)
        if row is None:
            raise _not_found()
        return Profile.model_validate(dict(row))

    @app.patch("/profiles/me", response_model=Profile, tags=["users"])
    def update_profile(body: ProfilePatch, user: CurrentUser) -> Profile:
        changes = body.model_dump(exclude_unset=True)
        with transaction(db_path, immediate=True) as conn:
            if changes:
                # Column names come from the model's fields, never from input.
                assignments = ", ".join(f"{column} = ?" for column in changes)
                conn.execute(
                    f"UPDATE profiles SET {assignments}, updated_at = ?"
                    " WHERE username = ?",
                    (*changes.values(), time.time(), user),
                )
            row = conn.execute(
                "SELECT * FROM profiles WHERE username = ?", (user,)
            ).fetchone()
        if row is None:
            raise _not_found()
        return Profile.model_validate(dict(row))

    # Declared after /profiles/me so "me" is never treated as a username.
    @app.get("/profiles/{username}", response_model=PublicProfile, tags=["users"])
    def read_public_profile(
        user: CurrentUser,
        username: Annotated[str, Path(min_length=1, max_length=64)],
    ) -> PublicProfile:
        row = _get(db_path, username)
        if row is None:
            raise _not_found()
        return PublicProfile.model_validate(dict(row))

    return app
