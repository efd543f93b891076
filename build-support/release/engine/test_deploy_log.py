import stat

from release.engine import deploy_log


def test_attempts_are_appended_as_json_lines(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    deploy_log.append("p", {"result": "ok"})
    path = deploy_log.append("p", {"result": "failed", "reason": "waste: unhealthy"})
    assert deploy_log.read("p") == [
        {"result": "ok"},
        {"result": "failed", "reason": "waste: unhealthy"},
    ]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert deploy_log.read("other") == []
