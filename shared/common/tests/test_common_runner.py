import logging

import pytest

from common import runner
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


def test_load_settings_exits_2_with_clear_message(monkeypatch, capsys):
    monkeypatch.delenv("JWT_SECRET", raising=False)
    with pytest.raises(SystemExit) as excinfo:
        runner.load_settings_or_exit("auth", require_jwt_secret=True)
    assert excinfo.value.code == 2
    assert "JWT_SECRET" in capsys.readouterr().err


def test_load_settings_warns_on_short_secret(monkeypatch, caplog):
    monkeypatch.setenv("JWT_SECRET", "short")
    monkeypatch.setattr(runner, "configure_logging", lambda *args: None)
    with caplog.at_level(logging.WARNING):
        settings = runner.load_settings_or_exit("users", require_jwt_secret=True)
    assert settings.jwt_secret == "short"
    assert "shorter than 32 bytes" in caplog.text
