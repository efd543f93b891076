import pytest

from common.jwt_tokens import SigningKey, key_loader, private_pem, public_pem
from common.settings import Settings, SettingsError, env_float, feature_flags

KEY = SigningKey.generate()
OLD = SigningKey.generate()


@pytest.fixture
def key_files(tmp_path):
    private = tmp_path / "jwt_private_key.pem"
    private.write_bytes(private_pem(KEY))
    public = tmp_path / "jwt_public_keys.pem"
    public.write_bytes(
        public_pem(KEY.private_key.public_key())
        + public_pem(OLD.private_key.public_key())
    )
    return {"JWT_PRIVATE_KEY_FILE": str(private), "JWT_PUBLIC_KEYS_FILE": str(public)}


def test_defaults_from_empty_environment():
    settings = Settings.from_env("waste", environ={})
    assert settings.service_name == "waste"
    assert settings.port == 8000
    assert settings.database_path == "/data/waste.db"
    assert settings.git_sha == "unknown"
    assert settings.image_tag == "dev"
    assert settings.log_level == "INFO"
    assert settings.jwt_signing_key is None
    assert dict(settings.jwt_public_keys) == {}
    assert settings.jwt_ttl_seconds == 3600
    assert dict(settings.feature_flags) == {}


def test_values_from_environment(key_files):
    env = {
        **key_files,
        "SERVICE_NAME": "auth-blue",
        "PORT": "9001",
        "DATABASE_PATH": "/tmp/x.db",
        "GIT_SHA": "abc123",
        "IMAGE_TAG": "1.2.3",
        "LOG_LEVEL": "debug",
        "JWT_TTL_SECONDS": "60",
    }
    settings = Settings.from_env(
        "auth", keys=key_loader(require_signing=True, require_public=True), environ=env
    )
    assert settings.service_name == "auth-blue"
    assert settings.port == 9001
    assert settings.database_path == "/tmp/x.db"
    assert (settings.git_sha, settings.image_tag) == ("abc123", "1.2.3")
    assert settings.log_level == "DEBUG"
    assert settings.signing_key().kid == KEY.kid
    assert set(settings.verifying_keys()) == {KEY.kid, OLD.kid}
    assert settings.jwt_ttl_seconds == 60


def test_feature_flags_strip_prefix_and_lowercase():
    env = {"FEATURE_NEW_UI": "on", "FEATURE_BETA": "false", "FEATURE_": "x", "X": "1"}
    assert feature_flags(env) == {"beta": "false", "new_ui": "on"}
    assert Settings.from_env("x", environ=env).feature_flags["new_ui"] == "on"


@pytest.mark.parametrize("value", ["", "   "], ids=["empty", "blank"])
def test_missing_signing_key_refuses_to_start(value):
    with pytest.raises(SettingsError, match="JWT_PRIVATE_KEY_FILE is not set"):
        Settings.from_env(
            "auth",
            keys=key_loader(require_signing=True),
            environ={"JWT_PRIVATE_KEY_FILE": value},
        )


def test_missing_public_keys_refuse_to_start():
    with pytest.raises(SettingsError, match="JWT_PUBLIC_KEYS_FILE is not set"):
        Settings.from_env("users", keys=key_loader(require_public=True), environ={})


def test_an_hs256_secret_refuses_to_start(key_files, tmp_path):
    with pytest.raises(SettingsError, match="refuses shared HS256"):
        Settings.from_env(
            "users",
            keys=key_loader(require_public=True),
            environ={**key_files, "JWT_SECRET": "s" * 48},
        )
    weak = tmp_path / "weak.pem"
    weak.write_text("s" * 48)
    with pytest.raises(SettingsError, match="Ed25519"):
        Settings.from_env(
            "auth",
            keys=key_loader(require_signing=True),
            environ={**key_files, "JWT_PRIVATE_KEY_FILE": str(weak)},
        )


def test_unreadable_key_file_refuses_to_start(tmp_path):
    with pytest.raises(SettingsError, match="cannot read"):
        Settings.from_env(
            "users",
            keys=key_loader(require_public=True),
            environ={"JWT_PUBLIC_KEYS_FILE": str(tmp_path / "absent.pem")},
        )


def test_keys_optional_when_not_required():
    settings = Settings.from_env("recycling", environ={"JWT_SECRET": "ignored"})
    assert settings.jwt_signing_key is None


def test_key_accessors_on_explicit_settings():
    with pytest.raises(SettingsError):
        Settings(service_name="users").verifying_keys()
    with pytest.raises(SettingsError):
        Settings(service_name="auth").signing_key()
    settings = Settings(service_name="auth", jwt_signing_key=KEY)
    assert set(settings.verifying_keys()) == {KEY.kid}


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({"PORT": "http"}, id="port-not-int"),
        pytest.param({"PORT": "0"}, id="port-zero"),
        pytest.param({"PORT": "70000"}, id="port-too-big"),
        pytest.param({"JWT_TTL_SECONDS": "0"}, id="ttl-zero"),
        pytest.param({"JWT_TTL_SECONDS": "3601"}, id="ttl-above-cap"),
        pytest.param({"LOG_LEVEL": "chatty"}, id="bad-log-level"),
    ],
)
def test_invalid_values_raise_clear_errors(env):
    with pytest.raises(SettingsError):
        Settings.from_env("svc", environ=env)


@pytest.mark.parametrize(
    "raw, expected",
    [("", 1.0), ("0.25", 0.25), ("0", 0.0)],
    ids=["default", "fraction", "zero"],
)
def test_env_float(raw, expected):
    assert env_float({"X": raw}, "X", 1.0) == expected


@pytest.mark.parametrize("raw", ["nan", "-1", "soon"])
def test_env_float_rejects(raw):
    with pytest.raises(SettingsError):
        env_float({"X": raw}, "X", 1.0)


def test_settings_are_immutable():
    settings = Settings(service_name="x")
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]
