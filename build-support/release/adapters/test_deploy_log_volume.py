"""The deploy log's files on the host: one entry per tar written, every entry read
back from get_archive's tar of the directory, a broken file skipped (no Docker)."""

import io
import tarfile

from release.adapters import deploy_log_volume


def directory_archive(files: dict[str, bytes]) -> bytes:
    """What get_archive answers for /deploys: the directory, then its files."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        d = tarfile.TarInfo("deploys")
        d.type = tarfile.DIRTYPE
        tar.addfile(d)
        for name, data in files.items():
            info = tarfile.TarInfo(f"deploys/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_one_file_per_entry_round_trips():
    written = deploy_log_volume.entry_tar("20260301T120000.000001Z-7.json", {"a": 1})
    with tarfile.open(fileobj=io.BytesIO(written)) as tar:
        (member,) = tar.getmembers()
        data = tar.extractfile(member).read()
    assert member.name == "20260301T120000.000001Z-7.json"
    read = deploy_log_volume.entries_of(directory_archive({member.name: data}))
    assert read == [{"a": 1, "id": "20260301T120000.000001Z-7"}]


def test_a_broken_file_does_not_hide_the_others():
    read = deploy_log_volume.entries_of(
        directory_archive(
            {
                "1.json": b'{"id": "1", "result": "ok"}',
                "2.json": b'{"id": "2", "res',  # cut short
                "3.json": b"[1, 2]",  # not an entry
                "notes.txt": b"hello",
            }
        )
    )
    assert read == [{"id": "1", "result": "ok"}]


def test_names_are_the_projects():
    assert deploy_log_volume.volume_name("ecotrack-prod") == "ecotrack-prod-deploy-log"
