import stat

from release.gitops import secrets


def test_generated_once_private_and_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    path = secrets.ensure_secrets("proj")
    first = path.read_text()
    assert "JWT_SECRET=" in first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secrets.ensure_secrets("proj").read_text() == first
    assert not str(path).startswith(str(secrets.secrets_file("other")))


def test_missing_keys_are_added_without_touching_others(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    path = secrets.secrets_file("proj")
    path.parent.mkdir(parents=True)
    path.write_text("DB_PASSWORD=keep\n")
    text = secrets.ensure_secrets("proj").read_text()
    assert "DB_PASSWORD=keep" in text and "JWT_SECRET=" in text


def test_rotation_changes_only_the_rotated_key(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    path = secrets.ensure_secrets("proj")
    with path.open("a") as f:
        f.write("DB_PASSWORD=keep\n")
    before = secrets.read_env_file(path)
    after = secrets.read_env_file(secrets.rotate("proj"))
    assert after["JWT_SECRET"] != before["JWT_SECRET"]
    assert after["DB_PASSWORD"] == "keep"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
