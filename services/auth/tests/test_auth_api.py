import pytest
from fastapi.testclient import TestClient

from auth_service.main import create_app
from auth_service.passwords import hash_password, verify_password
from common.jwt_tokens import issue_token, verify_token
from common.settings import Settings, SettingsError

SECRET = "auth-test-secret-at-least-32-bytes-long"


@pytest.fixture
def client(tmp_path):
    settings = Settings(
        service_name="auth",
        database_path=str(tmp_path / "auth.db"),
        jwt_secret=SECRET,
        jwt_ttl_seconds=120,
    )
    return TestClient(create_app(settings))


def register(client, username="alice", password="correct horse"):
    return client.post("/register", json={"username": username, "password": password})


def test_register_login_verify(client):
    response = register(client)
    assert (response.status_code, response.json()) == (201, {"username": "alice"})

    response = client.post(
        "/login", json={"username": "alice", "password": "correct horse"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 120
    assert verify_token(body["access_token"], SECRET)["sub"] == "alice"

    headers = {"Authorization": f"Bearer {body['access_token']}"}
    response = client.get("/verify", headers=headers)
    assert response.status_code == 200
    assert response.json()["sub"] == "alice"
    assert isinstance(response.json()["exp"], int)


def test_duplicate_username_is_409(client):
    assert register(client).status_code == 201
    response = register(client, password="another password")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "username_taken"


@pytest.mark.parametrize(
    "username, password",
    [
        pytest.param("alice", "wrong password", id="wrong-password"),
        pytest.param("nobody", "correct horse", id="unknown-user"),
        pytest.param("ALICE", "correct horse", id="case-sensitive"),
    ],
)
def test_bad_credentials_are_401(client, username, password):
    register(client)
    response = client.post("/login", json={"username": username, "password": password})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"
    assert "access_token" not in response.text


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"username": "ab", "password": "longenough"}, id="short-name"),
        pytest.param({"username": "a" * 33, "password": "longenough"}, id="long-name"),
        pytest.param({"username": "Alice", "password": "longenough"}, id="uppercase"),
        pytest.param({"username": "al ice", "password": "longenough"}, id="space"),
        pytest.param({"username": "alice\n", "password": "longenough"}, id="newline"),
        pytest.param({"username": "alice", "password": "short"}, id="short-pw"),
        pytest.param({"username": "alice", "password": "x" * 129}, id="long-pw"),
        pytest.param({"username": "alice"}, id="missing-pw"),
        pytest.param({"username": 5, "password": "longenough"}, id="wrong-type"),
        pytest.param([], id="not-an-object"),
    ],
)
def test_register_validation_is_422(client, payload):
    response = client.post("/register", json=payload)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_malformed_json_is_400(client):
    response = client.post(
        "/register", content=b"{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(None, id="missing"),
        pytest.param("garbage", id="garbage"),
        pytest.param(issue_token("alice", "x" * 40), id="wrong-secret"),
        pytest.param(issue_token("alice", SECRET, now=0), id="expired"),
    ],
)
def test_verify_rejects_bad_tokens(client, token):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.get("/verify", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_ops_endpoints(client):
    assert client.get("/health/live").json() == {"status": "ok"}
    assert client.get("/health/ready").json() == {"status": "ready"}
    version = client.get("/version").json()
    assert (version["service"], version["version"]) == ("auth", "1.0.0")
    register(client)
    metrics = client.get("/metrics").text
    assert (
        'http_requests_total{method="POST",route="/register",status="201"}' in metrics
    )


def test_not_ready_when_database_unwritable(client, tmp_path):
    (tmp_path / "auth.db").unlink()
    (tmp_path / "auth.db").mkdir()  # a directory where the db file should be
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def test_passwords_are_salted_and_verified():
    first, second = hash_password("pw-123456"), hash_password("pw-123456")
    assert first != second
    assert verify_password("pw-123456", first)
    assert not verify_password("pw-1234567", first)
    assert not verify_password("pw-123456", "not-a-hash")


def test_refuses_to_start_without_secret(tmp_path):
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        create_app(Settings(service_name="auth", database_path=str(tmp_path / "a.db")))
