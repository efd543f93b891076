import stat

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from release.gitops import secrets


def test_env_file_made_once_private_and_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    path = secrets.ensure_secrets("proj")
    path.write_text(path.read_text() + "DB_PASSWORD=keep\n")
    first = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secrets.ensure_secrets("proj").read_text() == first
    assert "JWT_SECRET" not in first  # the token keys are files, not env values


def _public_keys(data: bytes) -> list[bytes]:
    marker = b"-----END PUBLIC KEY-----\n"
    blocks = [b + marker for b in data.split(marker) if b.strip()]
    return [
        serialization.load_pem_public_key(b).public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        for b in blocks
    ]


def _public_of(private_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(private_pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def test_keys_generated_once_private_and_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    keys = secrets.ensure_keys("proj")
    directory = secrets.keys_dir("proj")
    private = directory / "jwt_private_key"
    assert private.read_bytes() == keys["jwt_private_key"]
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert _public_keys(keys["jwt_public_keys"]) == [_public_of(private.read_bytes())]
    assert secrets.ensure_keys("proj") == keys
    assert secrets.ensure_keys("other") != keys


def test_rotation_adds_a_key_then_drops_the_oldest(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    first = _public_of(secrets.ensure_keys("proj")["jwt_private_key"])
    secrets.rotate("proj")
    keys = secrets.ensure_keys("proj")
    second = _public_of(keys["jwt_private_key"])
    assert second != first
    # Verifiers accept both during the rotation, the new one first.
    assert _public_keys(keys["jwt_public_keys"]) == [second, first]
    secrets.rotate("proj")
    keys = secrets.ensure_keys("proj")
    third = _public_of(keys["jwt_private_key"])
    assert _public_keys(keys["jwt_public_keys"]) == [third, second]
    private = secrets.keys_dir("proj") / "jwt_private_key"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
