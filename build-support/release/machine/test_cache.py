import jwt
import pytest
import yaml

from release.machine import cache


def _settings(tmp_path):
    return cache.ServerSettings("127.0.0.1", 50123, str(tmp_path), max_cached_refs=10)


def _yaml(text):
    loader = yaml.SafeLoader
    for tag in (
        "!channel",
        "!disk-storage",
        "!lru-action-cache",
        "!cas",
        "!bytestream",
        "!action-cache",
    ):
        loader.add_constructor(tag, lambda ld, node: ld.construct_mapping(node))
    return yaml.load(text, Loader=loader)


def test_server_config_has_cas_action_cache_and_jwt(tmp_path):
    conf = _yaml(cache.server_config(_settings(tmp_path)))
    assert conf["server"][0]["address"] == "127.0.0.1:50123"
    assert conf["authorization"]["method"] == "jwt"
    assert conf["authorization"]["algorithm"] == "hs256"
    assert conf["storages"][0]["path"] == str(tmp_path / "cas")
    assert conf["caches"][0]["max-cached-refs"] == 10
    assert conf["instances"][0]["name"] == ""
    assert len(conf["instances"][0]["services"]) == 3


def test_acl_lets_the_reader_only_read():
    acl = yaml.safe_load(cache.acl_config())[""]["allow"]
    writer, reader = acl
    assert writer == {"subject": "^writer$"}
    assert reader["subject"] == "^reader$"
    assert "GetActionResult" in reader["requests"]
    for write in ("UpdateActionResult", "BatchUpdateBlobs", "Write"):
        assert write not in reader["requests"]


def test_bad_port_is_refused():
    with pytest.raises(cache.CacheConfigError, match="out of range"):
        cache.check_port(70000)


def test_token_is_signed_with_the_secret_and_expires():
    token = cache.mint_token(b"k", "reader", days=1, now=1000)
    claims = cache.token_claims(token)
    assert claims == {"sub": "reader", "iat": 1000, "exp": 1000 + 86400}
    assert cache.verify_token(b"k", token)
    assert not cache.verify_token(b"other", token)
    with pytest.raises(cache.CacheConfigError, match="unknown role"):
        cache.mint_token(b"k", "admin", days=1)


def test_token_matches_pyjwt():
    token = cache.mint_token(b"k" * 32, "writer", days=1)
    assert jwt.decode(token, b"k" * 32, algorithms=["HS256"])["sub"] == "writer"


def _env(tmp_path, **extra):
    token = tmp_path / "t.jwt"
    token.write_text("x.y.z")
    env = {cache.ADDRESS_VAR: "grpc://127.0.0.1:9", cache.TOKEN_FILE_VAR: str(token)}
    env.update(extra)
    return env


def test_no_address_means_no_remote_cache_and_no_notice():
    assert cache.pants_env({}) == ({}, None)


def test_pull_requests_read_only(tmp_path):
    env, notice = cache.pants_env(_env(tmp_path), probe=lambda h, p: True)
    assert env["PANTS_REMOTE_CACHE_READ"] == "true"
    assert env["PANTS_REMOTE_CACHE_WRITE"] == "false"
    assert env["PANTS_REMOTE_STORE_ADDRESS"] == "grpc://127.0.0.1:9"
    assert env["PANTS_REMOTE_INSTANCE_NAME"] == ""
    assert env["PANTS_REMOTE_OAUTH_BEARER_TOKEN_PATH"] == str(tmp_path / "t.jwt")
    assert "read-only" in notice


def test_trusted_builds_write(tmp_path):
    env, notice = cache.pants_env(
        _env(tmp_path, **{cache.WRITE_VAR: "true"}), probe=lambda h, p: True
    )
    assert env["PANTS_REMOTE_CACHE_WRITE"] == "true"
    assert "read-write" in notice


def test_unreachable_server_falls_back_to_local_with_one_line(tmp_path):
    env, notice = cache.pants_env(_env(tmp_path), probe=lambda h, p: False)
    assert env == {}
    assert "does not answer" in notice and "\n" not in notice


@pytest.mark.parametrize(
    "override,expected",
    [
        ({cache.ADDRESS_VAR: "http://x:1"}, "is not grpc://"),
        ({cache.TOKEN_FILE_VAR: "/nonexistent/token"}, "token file"),
    ],
)
def test_bad_settings_turn_the_cache_off(tmp_path, override, expected):
    env, notice = cache.pants_env(
        {**_env(tmp_path), **override}, probe=lambda h, p: True
    )
    assert env == {} and expected in notice


def test_flags_mirror_the_env():
    flags = cache.pants_flags({"PANTS_REMOTE_CACHE_READ": "true"})
    assert flags == ["--remote-cache-read=true"]


def test_action_cache_counts_from_statsd():
    lines = [
        "bgd.rpc.duration.ms,instanceName=unnamed,method=GetActionResult,"
        "serviceName=ActionCache,status=OK:1|ms",
        "bgd.rpc.duration.ms,instanceName=unnamed,method=GetActionResult,"
        "serviceName=ActionCache,status=NOT_FOUND:1|ms",
        "bgd.rpc.duration.ms,instanceName=unnamed,method=GetActionResult,"
        "serviceName=ActionCache,status=NOT_FOUND:1|ms",
        "bgd.rpc.duration.ms,instanceName=unnamed,method=UpdateActionResult,"
        "serviceName=ActionCache,status=OK:3|ms",
        "bgd.rpc.duration.ms,instanceName=unnamed,method=UpdateActionResult,"
        "serviceName=ActionCache,status=UNAUTHENTICATED:0|ms",
        "bgd.rpc.input_bytes.count,method=GetActionResult,status=OK:71.0|c",
    ]
    assert cache.action_cache_counts("\n".join(lines)) == {
        "hits": 1,
        "misses": 2,
        "writes": 1,
        "denied": 1,
    }


def test_main_prints_exports(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(cache.ADDRESS_VAR, raising=False)
    assert cache.main(["machine/cache.py", "pants-env"]) == 0
    assert capsys.readouterr().out == ""
    assert cache.main(["machine/cache.py"]) == 2


def test_off_loopback_bind_needs_tls(tmp_path):
    plain = cache.ServerSettings("0.0.0.0", 50123, str(tmp_path))
    with pytest.raises(cache.CacheConfigError, match="off loopback.*--tls-cert"):
        cache.check_settings(plain)
    for host in ("127.0.0.1", "::1", "localhost"):
        cache.check_settings(cache.ServerSettings(host, 50123, str(tmp_path)))
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("c")
    key.write_text("k")
    tls = cache.ServerSettings(
        "0.0.0.0", 50123, str(tmp_path), tls_cert=str(cert), tls_key=str(key)
    )
    assert cache.check_settings(tls).address == "grpcs://0.0.0.0:50123"
    with pytest.raises(cache.CacheConfigError, match="both"):
        cache.check_settings(
            cache.ServerSettings("0.0.0.0", 50123, str(tmp_path), tls_cert=str(cert))
        )


def test_tls_server_config_has_credentials_and_is_not_insecure(tmp_path):
    s = cache.ServerSettings(
        "0.0.0.0", 50123, str(tmp_path), tls_cert="/c.pem", tls_key="/k.pem"
    )
    channel = _yaml(cache.server_config(s))["server"][0]
    assert channel["insecure-mode"] is False
    assert channel["credentials"] == {
        "tls-server-key": "/k.pem",
        "tls-server-cert": "/c.pem",
    }
    plain = _yaml(cache.server_config(_settings(tmp_path)))["server"][0]
    assert plain["insecure-mode"] is True and "credentials" not in plain


def test_tokens_are_short_lived_and_capped():
    assert cache.DEFAULT_TOKEN_DAYS <= 3 and cache.MAX_TOKEN_DAYS <= 7
    token = cache.mint_token(b"k" * 32, "reader", cache.DEFAULT_TOKEN_DAYS, now=1000)
    claims = jwt.decode(
        token, b"k" * 32, algorithms=["HS256"], options={"verify_exp": False}
    )
    assert claims["exp"] - claims["iat"] == cache.DEFAULT_TOKEN_DAYS * 86400
    for days in (365, cache.MAX_TOKEN_DAYS + 0.5, 0):
        with pytest.raises(cache.CacheConfigError, match="out of range"):
            cache.mint_token(b"k" * 32, "reader", days)
    with pytest.raises(cache.CacheConfigError, match="out of range"):
        cache.check_settings(
            cache.ServerSettings("127.0.0.1", 50123, "/tmp", token_days=30)
        )


def test_pants_env_passes_the_ca_for_grpcs(tmp_path):
    env, _ = cache.pants_env(
        {**_env(tmp_path), cache.CA_FILE_VAR: str(tmp_path / "ca.pem")},
        probe=lambda h, p: True,
    )
    assert env["PANTS_REMOTE_CA_CERTS_PATH"] == str(tmp_path / "ca.pem")
