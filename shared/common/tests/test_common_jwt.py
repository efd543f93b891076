import time

import jwt
import pytest
from fastapi import Depends
from fastapi.testclient import TestClient

from common.http import create_base_app
from common.jwt_tokens import (
    TokenError,
    bearer_claims,
    bearer_user,
    issue_token,
    verify_token,
)
from common.settings import Settings

SECRET = "test-secret-that-is-at-least-32-bytes"


def test_round_trip():
    token = issue_token("alice", SECRET, ttl_seconds=60)
    claims = verify_token(token, SECRET)
    assert claims["sub"] == "alice"
    assert claims["iss"] == "auth"
    assert claims["exp"] - claims["iat"] == 60


def _forge(claims, secret=SECRET, algorithm="HS256"):
    return jwt.encode(claims, secret, algorithm=algorithm)


NOW = int(time.time())
GOOD = {"sub": "alice", "iat": NOW, "exp": NOW + 60, "iss": "auth"}


EXPIRED = issue_token("a", SECRET, now=NOW - 120, ttl_seconds=60)
WRONG_SECRET = issue_token("a", "another-secret-that-is-32-bytes-long")
NO_EXP = _forge({k: v for k, v in GOOD.items() if k != "exp"})


@pytest.mark.parametrize(
    "token, message",
    [
        pytest.param(EXPIRED, "expired", id="expired"),
        pytest.param(WRONG_SECRET, "invalid", id="wrong-secret"),
        pytest.param(_forge({**GOOD, "iss": "evil"}), "invalid", id="wrong-issuer"),
        pytest.param(NO_EXP, "invalid", id="no-exp"),
        pytest.param(_forge({**GOOD, "sub": ""}), "invalid", id="empty-sub"),
        pytest.param(_forge(GOOD, None, "none"), "invalid", id="alg-none"),
        pytest.param("not.a.jwt", "invalid", id="garbage"),
        pytest.param("", "invalid", id="empty"),
    ],
)
def test_rejected_tokens(token, message):
    with pytest.raises(TokenError, match=message):
        verify_token(token, SECRET)


@pytest.fixture
def client(tmp_path):
    settings = Settings(service_name="t", database_path=str(tmp_path / "t.db"))
    app = create_base_app("t", "0", settings)

    @app.get("/me")
    def me(user: str = Depends(bearer_user(SECRET))):
        return {"user": user}

    @app.get("/claims")
    def claims(c: dict = Depends(bearer_claims(SECRET))):
        return c

    return TestClient(app)


def test_dependency_accepts_valid_token(client):
    headers = {"Authorization": f"Bearer {issue_token('bob', SECRET)}"}
    assert client.get("/me", headers=headers).json() == {"user": "bob"}
    assert client.get("/claims", headers=headers).json()["sub"] == "bob"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"Authorization": "Bearer nope"}, id="garbage"),
        pytest.param({"Authorization": "Basic YTpi"}, id="wrong-scheme"),
        pytest.param(
            {"Authorization": f"Bearer {issue_token('a', SECRET, now=0)}"},
            id="expired",
        ),
    ],
)
def test_dependency_rejects_with_401_json(client, headers):
    response = client.get("/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
