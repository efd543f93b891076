import base64
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from fastapi import Depends
from fastapi.testclient import TestClient

from common.http import create_base_app
from common.jwt_tokens import (
    AUDIENCE,
    ISSUER,
    MAX_TTL_SECONDS,
    KeyConfigError,
    SigningKey,
    TokenError,
    bearer_claims,
    bearer_user,
    issue_token,
    load_public_keys,
    load_signing_key,
    private_pem,
    public_pem,
    verify_token,
)
from common.settings import Settings

KEY = SigningKey.generate()
KEYS = KEY.public_keys()
OTHER = SigningKey.generate()


def test_round_trip():
    token = issue_token("alice", KEY, ttl_seconds=60)
    assert jwt.get_unverified_header(token) == {
        "alg": "EdDSA",
        "kid": KEY.kid,
        "typ": "JWT",
    }
    claims = verify_token(token, KEYS)
    assert claims["sub"] == "alice"
    assert (claims["iss"], claims["aud"]) == (ISSUER, AUDIENCE)
    assert claims["exp"] - claims["iat"] == 60


def _forge(claims, key=KEY, kid=None, algorithm="EdDSA"):
    secret = key.private_key if isinstance(key, SigningKey) else key
    headers = {"kid": KEY.kid if kid is None else kid}
    return jwt.encode(claims, secret, algorithm=algorithm, headers=headers)


NOW = int(time.time())
GOOD = {"sub": "alice", "iat": NOW, "exp": NOW + 60, "iss": ISSUER, "aud": AUDIENCE}
PUBLIC_PEM = public_pem(KEY.private_key.public_key())


def _hs256_with_public_key():
    """Algorithm confusion: an HS256 token whose HMAC key is the public key's PEM
    (PyJWT refuses to sign with PEM bytes, so the HMAC is computed by hand)."""
    import hashlib
    import hmac
    import json

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "kid": KEY.kid}).encode())
    body = b64(json.dumps(GOOD).encode())
    mac = hmac.new(PUBLIC_PEM, f"{header}.{body}".encode(), hashlib.sha256)
    return f"{header}.{body}.{b64(mac.digest())}"


EXPIRED = issue_token("a", KEY, now=NOW - 120, ttl_seconds=60)


@pytest.mark.parametrize(
    "token, message",
    [
        pytest.param(EXPIRED, "expired", id="expired"),
        pytest.param(_forge(GOOD, OTHER), "invalid", id="wrong-key-same-kid"),
        pytest.param(
            _forge(GOOD, OTHER, kid=OTHER.kid), "unknown key", id="unknown-kid"
        ),
        pytest.param(_forge(GOOD, kid=""), "unknown key", id="empty-kid"),
        pytest.param(_forge({**GOOD, "iss": "evil"}), "(?i)issuer", id="wrong-issuer"),
        pytest.param(
            _forge({**GOOD, "aud": "evil"}), "(?i)audience", id="wrong-audience"
        ),
        pytest.param(
            _forge({k: v for k, v in GOOD.items() if k != "aud"}), "aud", id="no-aud"
        ),
        pytest.param(
            _forge({k: v for k, v in GOOD.items() if k != "exp"}), "exp", id="no-exp"
        ),
        pytest.param(
            _forge({**GOOD, "exp": NOW + MAX_TTL_SECONDS + 1}),
            "lifetime",
            id="ttl-above-cap",
        ),
        pytest.param(_forge({**GOOD, "sub": ""}), "invalid", id="empty-sub"),
        pytest.param(_hs256_with_public_key(), "invalid", id="hs256-public-key"),
        pytest.param(_forge(GOOD, None, algorithm="none"), "invalid", id="alg-none"),
        pytest.param("not.a.jwt", "invalid", id="garbage"),
        pytest.param("", "invalid", id="empty"),
    ],
)
def test_rejected_tokens(token, message):
    assert verify_token(_forge(GOOD), KEYS)["sub"] == "alice"  # the forger works
    with pytest.raises(TokenError, match=message):
        verify_token(token, KEYS)


def test_issuing_above_the_ttl_cap_is_refused():
    issue_token("a", KEY, ttl_seconds=MAX_TTL_SECONDS)
    with pytest.raises(ValueError, match="TTL"):
        issue_token("a", KEY, ttl_seconds=MAX_TTL_SECONDS + 1)


def test_two_kids_accepted_during_a_rotation():
    old, new = SigningKey.generate(), SigningKey.generate()
    both = load_public_keys(
        public_pem(new.private_key.public_key())
        + public_pem(old.private_key.public_key())
    )
    assert set(both) == {old.kid, new.kid}
    for key in (old, new):
        assert verify_token(issue_token("a", key), both)["sub"] == "a"
    # Once the old key is dropped, its tokens stop verifying.
    with pytest.raises(TokenError, match="unknown key"):
        verify_token(issue_token("a", old), new.public_keys())


def test_keys_load_from_pem():
    assert load_signing_key(private_pem(KEY)).kid == KEY.kid
    both = public_pem(KEY.private_key.public_key()) + public_pem(
        OTHER.private_key.public_key()
    )
    assert set(load_public_keys(both)) == {KEY.kid, OTHER.kid}


def _ec_pem():
    return generate_private_key(SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize(
    "text, message",
    [
        pytest.param("an-hs256-secret-that-is-quite-long!!", "not PEM", id="hs-secret"),
        pytest.param(_ec_pem(), "not Ed25519", id="ec-key"),
        pytest.param(PUBLIC_PEM, "not a readable", id="public-as-private"),
    ],
)
def test_weak_or_wrong_signing_keys_are_refused(text, message):
    with pytest.raises(KeyConfigError, match=message):
        load_signing_key(text)


@pytest.fixture
def client(tmp_path):
    settings = Settings(service_name="t", database_path=str(tmp_path / "t.db"))
    app = create_base_app("t", "0", settings)

    @app.get("/me")
    def me(user: str = Depends(bearer_user(KEYS))):
        return {"user": user}

    @app.get("/claims")
    def claims(c: dict = Depends(bearer_claims(KEYS))):
        return c

    return TestClient(app)


def test_dependency_accepts_valid_token(client):
    headers = {"Authorization": f"Bearer {issue_token('bob', KEY)}"}
    assert client.get("/me", headers=headers).json() == {"user": "bob"}
    assert client.get("/claims", headers=headers).json()["sub"] == "bob"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"Authorization": "Bearer nope"}, id="garbage"),
        pytest.param({"Authorization": "Basic YTpi"}, id="wrong-scheme"),
        pytest.param(
            {"Authorization": f"Bearer {issue_token('a', KEY, now=0)}"},
            id="expired",
        ),
        pytest.param(
            {"Authorization": f"Bearer {issue_token('a', OTHER)}"},
            id="other-key",
        ),
    ],
)
def test_dependency_rejects_with_401_json(client, headers):
    response = client.get("/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
