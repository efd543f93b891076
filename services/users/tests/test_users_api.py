import pytest
from fastapi.testclient import TestClient

from common.jwt_tokens import SigningKey, issue_token
from common.settings import Settings
from users_service.main import create_app

# Auth's key: the users service only ever sees its public half.
KEY = SigningKey.generate()
PROFILE = {"display_name": "Alice A.", "email": "alice@example.org", "city": "Utrecht"}


def auth(username="alice", key=KEY, **kwargs):
    return {"Authorization": f"Bearer {issue_token(username, key, **kwargs)}"}


@pytest.fixture
def client(tmp_path):
    settings = Settings(
        service_name="users",
        database_path=str(tmp_path / "users.db"),
        jwt_public_keys=KEY.public_keys(),
    )
    return TestClient(create_app(settings))


def test_full_crud(client):
    assert client.get("/profiles/me", headers=auth()).status_code == 404

    response = client.post("/profiles/me", json=PROFILE, headers=auth())
    assert response.status_code == 201
    assert response.json() == {"username": "alice", **PROFILE}

    assert (
        client.get("/profiles/me", headers=auth()).json()["email"] == PROFILE["email"]
    )

    response = client.patch(
        "/profiles/me", json={"display_name": "Al", "city": None}, headers=auth()
    )
    assert response.status_code == 200
    assert response.json() == {
        "username": "alice",
        "display_name": "Al",
        "email": "alice@example.org",
        "city": None,
    }

    # Other users see the public view only: no email.
    response = client.get("/profiles/alice", headers=auth("bob"))
    assert response.json() == {"username": "alice", "display_name": "Al", "city": None}


def test_create_twice_is_409(client):
    client.post("/profiles/me", json=PROFILE, headers=auth())
    response = client.post("/profiles/me", json=PROFILE, headers=auth())
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "profile_exists"


def test_empty_patch_returns_profile_unchanged(client):
    client.post("/profiles/me", json=PROFILE, headers=auth())
    response = client.patch("/profiles/me", json={}, headers=auth())
    assert response.json()["display_name"] == PROFILE["display_name"]


@pytest.mark.parametrize(
    "method, path",
    [
        ("PATCH", "/profiles/me"),
        ("GET", "/profiles/me"),
        ("GET", "/profiles/nobody"),
    ],
    ids=["patch-missing", "get-own-missing", "get-public-missing"],
)
def test_missing_profile_is_404(client, method, path):
    kwargs = {"json": {"city": "X"}} if method == "PATCH" else {}
    response = client.request(method, path, headers=auth(), **kwargs)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "profile_not_found"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"Authorization": "Bearer not-a-jwt"}, id="garbage"),
        pytest.param({"Authorization": "Token abc"}, id="wrong-scheme"),
        pytest.param(auth(key=SigningKey.generate()), id="wrong-key"),
        pytest.param(auth(now=0, ttl_seconds=60), id="expired"),
    ],
)
@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/profiles/me"),
        ("POST", "/profiles/me"),
        ("PATCH", "/profiles/me"),
        ("GET", "/profiles/alice"),
    ],
    ids=["get-me", "post-me", "patch-me", "get-public"],
)
def test_every_route_requires_valid_token(client, headers, method, path):
    response = client.request(method, path, json=PROFILE, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({**PROFILE, "email": "not-an-email"}, id="email-no-at"),
        pytest.param({**PROFILE, "email": "a@b"}, id="email-no-dot"),
        pytest.param({**PROFILE, "email": "a b@c.d"}, id="email-space"),
        pytest.param({**PROFILE, "display_name": ""}, id="empty-name"),
        pytest.param({**PROFILE, "display_name": "x" * 65}, id="long-name"),
        pytest.param({"email": "a@b.c"}, id="missing-name"),
        pytest.param("text", id="not-object"),
    ],
)
def test_create_validation_is_422(client, payload):
    response = client.post("/profiles/me", json=payload, headers=auth())
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    "payload",
    [{"display_name": None}, {"email": None}, {"email": "nope"}],
    ids=["null-name", "null-email", "bad-email"],
)
def test_patch_validation_is_422(client, payload):
    client.post("/profiles/me", json=PROFILE, headers=auth())
    response = client.patch("/profiles/me", json=payload, headers=auth())
    assert response.status_code == 422


def test_ops_endpoints_need_no_token(client):
    assert client.get("/health/live").status_code == 200
    assert client.get("/health/ready").json() == {"status": "ready"}
    assert client.get("/version").json()["service"] == "users"
    assert "http_requests_total" in client.get("/metrics").text
