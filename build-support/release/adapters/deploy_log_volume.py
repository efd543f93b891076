"""The deploy log kept on the Docker host, one small JSON file per entry in a named
volume per Compose project (engine/deploy_log.py says what an entry holds).

It lives on the host, like the deploy lock (adapters/deploy_lock.py), so it outlives
the machine that deployed (a laptop, a CI runner) and every deployer sees the same
log. The volume is reached through a container that is created but never started,
on the lock's empty image: the archive API (put_archive, get_archive) mounts a
created container's volumes for the call, so nothing runs and nothing is pulled.
That container is kept, not made per call: a volume no container uses is what
`docker volume prune` deletes. Neither carries Compose's labels, so `./inv down
--volumes` (the project's data) leaves the log.

An entry is a file of its own, named by its time and the writer's pid, written with
one put_archive: two deployers appending at once write two files, so there is no
read-modify-write and nothing to race on.
"""

from __future__ import annotations

import io
import json
import tarfile
import time

from release.adapters.deploy_lock import LOCK_IMAGE
from release.adapters.deploy_lock import ensure_image as ensure_empty_image
from release.base.errors import EngineError

MOUNT = "/deploys"  # where the volume sits in its (never started) container
LABEL = "io.ecotrack.deploy-log"


def volume_name(project: str) -> str:
    return f"{project}-deploy-log"


def holder_name(project: str) -> str:
    return f"{project}-deploy-log"


def entry_tar(name: str, entry: dict) -> bytes:
    """One entry as the one-file tar archive put_archive takes."""
    data = (json.dumps(entry, sort_keys=True, indent=1) + "\n").encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = int(time.time())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def entries_of(archive: bytes) -> list[dict]:
    """The entries in get_archive's tar of the log's directory. A file that is not
    a JSON object (cut short by a full disk, written by hand) is skipped: one bad
    entry must not hide the others."""
    found = []
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar:
            if not (member.isfile() and member.name.endswith(".json")):
                continue
            try:
                entry = json.loads(tar.extractfile(member).read())
            except (ValueError, UnicodeDecodeError):
                continue
            if isinstance(entry, dict):
                entry.setdefault("id", member.name.rsplit("/", 1)[-1][:-5])
                found.append(entry)
    return found


def _failed(what: str, project: str, exc: Exception) -> EngineError:
    why = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return EngineError(f"cannot {what} the deploy log of {project} on the host: {why}")


def _errors() -> tuple[type[Exception], ...]:
    """What the docker SDK raises when the engine refuses or cannot be reached
    (its transport's errors, requests' RequestException, are OSErrors)."""
    import docker

    return (docker.errors.DockerException, OSError)


def _holder(client, project: str, create: bool) -> str | None:
    """The ID of the container the volume is mounted in; made (volume included) on
    first use when `create`, else None when the host has no log of the project."""
    import docker

    try:
        return client.api.inspect_container(holder_name(project))["Id"]
    except docker.errors.NotFound:
        pass
    if not create:
        try:
            client.volumes.get(volume_name(project))
        except docker.errors.NotFound:
            return None  # never written: no log yet
    labels = {LABEL: "1", f"{LABEL}.project": project}
    client.volumes.create(volume_name(project), labels=labels)  # idempotent
    ensure_empty_image(client)
    try:
        return client.api.create_container(
            LOCK_IMAGE,
            command=["deploy-log"],
            name=holder_name(project),
            labels=labels,
            host_config=client.api.create_host_config(
                binds={volume_name(project): {"bind": MOUNT, "mode": "rw"}}
            ),
        )["Id"]
    except docker.errors.APIError as exc:
        if exc.status_code != 409:
            raise
    # Another deployer made it between our two calls: use theirs.
    return client.api.inspect_container(holder_name(project))["Id"]


def write(client, project: str, name: str, entry: dict) -> str:
    """Adds `entry` as `<name>.json`; EngineError (one line) when the host cannot
    take it. Returns where it went."""
    try:
        holder = _holder(client, project, create=True)
        client.api.put_archive(holder, MOUNT, entry_tar(f"{name}.json", entry))
    except _errors() as exc:
        raise _failed("write", project, exc) from None
    return f"volume {volume_name(project)}"


def read(client, project: str) -> list[dict]:
    """Every entry on the host, in no particular order ([] when it has none)."""
    try:
        holder = _holder(client, project, create=False)
        if holder is None:
            return []
        stream, _ = client.api.get_archive(holder, MOUNT)
        return entries_of(b"".join(stream))
    except _errors() as exc:
        raise _failed("read", project, exc) from None
