"""The token keys on a Compose host: a named volume per key set and project
(model/desired.py KEY_VOLUMES), which the services mount read-only at /run/secrets.

The files travel through the engine's archive API (put_archive on a container that
is created but never started, as for the deploy log: adapters/deploy_log_volume.py),
so they reach a remote engine (ssh://) as well, and never enter a container's
environment, a Compose file or a command line. The holder container is kept: a
volume no container uses is what `docker volume prune` deletes. Neither carries
Compose's labels, so `./inv down --volumes` leaves them.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Mapping

from release.adapters.deploy_lock import LOCK_IMAGE
from release.adapters.deploy_lock import ensure_image as ensure_empty_image
from release.base.errors import EngineError
from release.model.desired import KEY_VOLUMES, key_volume_name

MOUNT = "/keys"  # where the volume sits in its (never started) holder
LABEL = "io.ecotrack.key-volume"
# The services' user (build-support/macros.py): the only one that may read the keys.
SERVICE_UID = 10001


def files_tar(files: Mapping[str, bytes], uid: int = SERVICE_UID) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid = len(data), 0o400, uid, uid
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _holder(client, name: str, labels: dict) -> str:
    import docker

    try:
        return client.api.inspect_container(name)["Id"]
    except docker.errors.NotFound:
        pass
    client.volumes.create(name, labels=labels)  # idempotent
    ensure_empty_image(client)
    try:
        return client.api.create_container(
            LOCK_IMAGE,
            command=["key-volume"],
            name=name,
            labels=labels,
            host_config=client.api.create_host_config(
                binds={name: {"bind": MOUNT, "mode": "rw"}}
            ),
        )["Id"]
    except docker.errors.APIError as exc:
        if exc.status_code != 409:
            raise
    return client.api.inspect_container(name)["Id"]  # another deployer made it


def install(client, project: str, keys: Mapping[str, bytes]) -> None:
    """Writes each key volume's files ({file name: content} of all the keys)."""
    import docker

    for volume, names in KEY_VOLUMES.items():
        name = key_volume_name(project, volume)
        labels = {LABEL: volume, f"{LABEL}.project": project}
        try:
            holder = _holder(client, name, labels)
            client.api.put_archive(
                holder, MOUNT, files_tar({n: keys[n] for n in names})
            )
        except (docker.errors.DockerException, OSError) as exc:
            why = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise EngineError(
                f"cannot write the token keys of {project} on the host: {why}"
            ) from None
