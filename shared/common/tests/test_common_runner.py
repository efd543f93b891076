import pytest

from common import runner
from common.jwt_tokens import key_loader
from common.settings import Settings


def test_serve_configures_uvicorn(monkeypatch):
    captured = {}
    monkeypatch.setattr(runner.uvicorn, "run", lambda app, **kw: captured.update(kw))
    app = object()
    runner.serve(app, Settings(service_name="auth", port=8123))  # type: ignore
    assert captured["host"] == "0.0.0.0"
    assert captured["port"] == 8123
    assert captured["timeout_graceful_shutdown"] == 10
    formatter = captured["log_config"]["formatters"]["json"]
    assert formatter["service"] == "auth"


@pytest.mark.parametrize(
    "env, message",
    [
        pytest.param({}, "JWT_PRIVATE_KEY_FILE is not set", id="missing"),
        pytest.param({"JWT_PRIVATE_KEY_FILE": "s" * 48}, "Ed25519", id="hs-secret"),
        pytest.param({"JWT_SECRET": "s" * 48}, "refuses shared HS256", id="jwt-secret"),
    ],
)
def test_missing_or_weak_key_exits_2_with_one_line(
    monkeypatch, capsys, tmp_path, env, message
):
    for name in ("JWT_SECRET", "JWT_PRIVATE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        if name.endswith("_FILE"):  # the content given: written to a file
            (tmp_path / "key").write_text(value)
            value = str(tmp_path / "key")
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(runner, "configure_logging", lambda *args: None)
    with pytest.raises(SystemExit) as excinfo:
        runner.load_settings_or_exit("auth", key_loader(require_signing=True))
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("auth: configuration error: ")
    assert message in err
