import threading
import time

import pytest
from fastapi.testclient import TestClient

from auth_service import passwords
from auth_service.main import create_app
from auth_service.passwords import KdfSlots, hash_password, verify_password
from common.jwt_tokens import SigningKey, issue_token, verify_token
from common.settings import Settings, SettingsError

KEY = SigningKey.generate()


@pytest.fixture
def client(tmp_path):
    settings = Settings(
        service_name="auth",
        database_path=str(tmp_path / "auth.db"),
        jwt_signing_key=KEY,
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
    assert verify_token(body["access_token"], KEY.public_keys())["sub"] == "alice"

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
        pytest.param(issue_token("alice", SigningKey.generate()), id="wrong-key"),
        pytest.param(issue_token("alice", KEY, now=0), id="expired"),
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


def test_refuses_to_start_without_signing_key(tmp_path):
    with pytest.raises(SettingsError, match="JWT_PRIVATE_KEY_FILE"):
        create_app(Settings(service_name="auth", database_path=str(tmp_path / "a.db")))


def test_verify_accepts_the_previous_key_during_a_rotation(tmp_path):
    old = SigningKey.generate()
    settings = Settings(
        service_name="auth",
        database_path=str(tmp_path / "auth.db"),
        jwt_signing_key=KEY,
        jwt_public_keys=old.public_keys(),
    )
    client = TestClient(create_app(settings))
    headers = {"Authorization": f"Bearer {issue_token('alice', old)}"}
    assert client.get("/verify", headers=headers).json()["sub"] == "alice"


def test_kdf_slots_bound_concurrent_hashing(monkeypatch):
    """Eight threads hash at once; never more than the limit run the KDF."""
    running, peak, lock = [0], [0], threading.Lock()
    real = passwords._derive

    def slow_derive(*args):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        try:
            return real(*args)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(passwords, "_derive", slow_derive)
    slots = KdfSlots(limit=2, wait_seconds=10)

    def work():
        with slots.slot():
            hash_password("pw-123456")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2


@pytest.mark.parametrize("path", ["/login", "/register"])
def test_kdf_busy_answers_503_with_retry_after(tmp_path, path):
    """With every slot held, a login waits briefly and is refused, without
    running the KDF."""
    slots = KdfSlots(limit=1, wait_seconds=0.05)
    settings = Settings(
        service_name="auth",
        database_path=str(tmp_path / "auth.db"),
        jwt_signing_key=KEY,
    )
    client = TestClient(create_app(settings, kdf=slots))
    body = {"username": "alice", "password": "correct horse"}
    with slots.slot():
        response = client.post(path, json=body)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "busy"
    assert client.post(path, json=body).status_code in (201, 401)
