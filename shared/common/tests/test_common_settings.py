import pytest

from common.settings import Settings, SettingsError, env_float, feature_flags

SECRET = "s" * 32


def test_defaults_from_empty_environment():
    settings = Settings.from_env("waste", environ={})
    assert settings.service_name == "waste"
    assert settings.port == 8000
    assert settings.database_path == "/data/waste.db"
    assert settings.git_sha == "unknown"
    assert settings.image_tag == "dev"
    assert settings.log_level == "INFO"
    assert settings.jwt_secret is None
    assert settings.jwt_ttl_seconds == 3600
    assert dict(settings.feature_flags) == {}


def test_values_from_environment():
    env = {
        "SERVICE_NAME": "auth-blue",
        "PORT": "9001",
        "DATABASE_PATH": "/tmp/x.db",
        "GIT_SHA": "abc123",
        "IMAGE_TAG": "1.2.3",
        "LOG_LEVEL": "debug",
        "JWT_SECRET": SECRET,
        "JWT_TTL_SECONDS": "60",
    }
    settings = Settings.from_env("auth", require_jwt_secret=True, environ=env)
    assert settings.service_name == "auth-blue"
    assert settings.port == 9001
    assert settings.database_path == "/tmp/x.db"
    assert (settings.git_sha, settings.image_tag) == ("abc123", "1.2.3")
    assert settings.log_level == "DEBUG"
    assert settings.jwt_secret == SECRET
    assert settings.jwt_ttl_seconds == 60


def test_feature_flags_strip_prefix_and_lowercase():
    env = {"FEATURE_NEW_UI": "on", "FEATURE_BETA": "false", "FEATURE_": "x", "X": "1"}
    assert feature_flags(env) == {"beta": "false", "new_ui": "on"}
    assert Settings.from_env("x", environ=env).feature_flags["new_ui"] == "on"


@pytest.mark.parametrize("secret", ["", "   "], ids=["empty", "blank"])
def test_missing_jwt_secret_refuses_to_start(secret):
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        Settings.from_env(
            "auth", require_jwt_secret=True, environ={"JWT_SECRET": secret}
        )


def test_jwt_secret_optional_when_not_required():
    assert Settings.from_env("recycling", environ={}).jwt_secret is None


def test_require_secret_on_explicit_settings():
    with pytest.raises(SettingsError):
        Settings(service_name="users").require_secret()
    assert Settings(service_name="users", jwt_secret=SECRET).require_secret() == SECRET


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({"PORT": "http"}, id="port-not-int"),
        pytest.param({"PORT": "0"}, id="port-zero"),
        pytest.param({"PORT": "70000"}, id="port-too-big"),
        pytest.param({"JWT_TTL_SECONDS": "0"}, id="ttl-zero"),
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
