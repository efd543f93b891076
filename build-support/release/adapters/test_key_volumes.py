"""The key volumes' archive: only the service user may read the keys."""

import io
import tarfile
from pathlib import Path

import yaml

from release.adapters import key_volumes
from release.model.desired import key_volume_variables, units_from_compose

ROOT = Path(__file__).resolve().parents[3]


def test_files_are_readable_by_the_service_user_only():
    data = key_volumes.files_tar({"jwt_private_key": b"k", "jwt_public_keys": b"p"})
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar}
        assert sorted(members) == ["jwt_private_key", "jwt_public_keys"]
        for m in members.values():
            assert (m.mode, m.uid, m.gid) == (0o400, 10001, 10001)
        assert tar.extractfile(members["jwt_private_key"]).read() == b"k"


def test_only_auth_mounts_the_signing_key():
    base = yaml.safe_load((ROOT / "gitops/compose.base.yaml").read_text())
    units = {u.service: u for u in units_from_compose([base])}
    assert units["auth"].key_files == ("jwt_private_key", "jwt_public_keys")
    assert units["users"].key_files == ("jwt_public_keys",)
    assert units["auth"].uses_secrets and units["users"].uses_secrets
    for name in ("waste", "waste-worker", "recycling", "locations", "proxy"):
        assert units[name].key_files == () and not units[name].uses_secrets
    # The volumes' names are the project's (the deploy fills them).
    names = key_volume_variables("ecotrack-prod")
    assert base["volumes"]["signing-keys"]["name"].startswith(
        "${ECOTRACK_SIGNING_KEYS_VOLUME:?"
    )
    assert names["ECOTRACK_SIGNING_KEYS_VOLUME"] == "ecotrack-prod-signing-keys"
    assert names["ECOTRACK_PUBLIC_KEYS_VOLUME"] == "ecotrack-prod-public-keys"
