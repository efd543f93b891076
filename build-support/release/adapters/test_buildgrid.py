"""The cache server's data directory: token lifetimes and rotation (no server)."""

from __future__ import annotations

import hmac
import json
import time
from pathlib import Path

import pytest

from release.adapters import buildgrid
from release.machine import cache


def _settings(tmp_path, **kw):
    return cache.ServerSettings("127.0.0.1", 50123, str(tmp_path / "data"), **kw)


def _claims(settings, role):
    return cache.token_claims(Path(settings.token_path(role)).read_text())


def test_prepare_mints_short_tokens_and_replaces_a_year_long_one(tmp_path):
    s = _settings(tmp_path)
    buildgrid.prepare(s)
    for role in cache.ROLES:
        c = _claims(s, role)
        assert c["exp"] - c["iat"] == cache.DEFAULT_TOKEN_DAYS * 86400
    # A token minted before the cap (365 days, still valid) is replaced on `up`.
    secret = Path(s.secret_path).read_text().strip().encode()
    now = time.time()
    old = cache.mint_token(secret, "writer", 1, now=now)
    claims = dict(cache.token_claims(old), exp=int(now) + 365 * 86400)
    header = cache._b64(b'{"alg": "HS256", "typ": "JWT"}')
    long_lived = header + b"." + cache._b64(json.dumps(claims).encode())
    sig = cache._b64(hmac.new(secret, long_lived, "sha256").digest())
    Path(s.token_path("writer")).write_text((long_lived + b"." + sig).decode())
    assert cache.verify_token(secret, Path(s.token_path("writer")).read_text())
    buildgrid.prepare(s)
    c = _claims(s, "writer")
    assert c["exp"] - c["iat"] <= cache.MAX_TOKEN_DAYS * 86400


def test_rotate_invalidates_the_old_tokens(tmp_path):
    s = _settings(tmp_path)
    buildgrid.prepare(s)
    old_secret = Path(s.secret_path).read_text().strip().encode()
    old = {r: Path(s.token_path(r)).read_text().strip() for r in cache.ROLES}
    assert buildgrid.rotate(s, None) is None  # no server ran
    new_secret = Path(s.secret_path).read_text().strip().encode()
    assert new_secret != old_secret
    for role in cache.ROLES:
        new = Path(s.token_path(role)).read_text().strip()
        assert new != old[role]
        assert cache.verify_token(new_secret, new)
        assert not cache.verify_token(new_secret, old[role])
    assert Path(s.secret_path).stat().st_mode & 0o077 == 0


def test_start_refuses_an_off_loopback_bind_without_tls(tmp_path):
    s = cache.ServerSettings("0.0.0.0", 50123, str(tmp_path / "data"))
    with pytest.raises(cache.CacheConfigError, match="off loopback"):
        buildgrid.start(s, Path("/nonexistent/bgd"))
    assert not (tmp_path / "data" / "server.json").exists()
