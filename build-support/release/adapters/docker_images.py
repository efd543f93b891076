"""Local images and the Docker client's side of a registry: tag, push, login.

Command lines are built by the functions named `*_command` (tested by equality) and run
in one place; failures become RegistryError with the client's last line, never a
traceback and never a secret (passwords go through stdin).
"""

from __future__ import annotations

import json

from release.adapters import proc
from release.base.errors import CommandError
from release.model.registry import RegistryError, Secret, parse_push_digest


def tag_command(source: str, target: str) -> list[str]:
    return ["docker", "tag", source, target]


def push_command(ref: str) -> list[str]:
    return ["docker", "push", ref]


def login_command(host: str, username: str) -> list[str]:
    return ["docker", "login", "--username", username, "--password-stdin", host]


def _last_line(exc: CommandError) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else str(exc)


def tag(source: str, target: str) -> None:
    try:
        proc.run(tag_command(source, target))
    except CommandError as exc:
        raise RegistryError(f"cannot tag {source} as {target}: {_last_line(exc)}")


def push(ref: str) -> str:
    """Pushes ref (registry/repository:tag); returns the digest the registry took."""
    try:
        out = proc.run(push_command(ref), timeout=1800).stdout
    except CommandError as exc:
        raise RegistryError(f"docker push {ref} failed: {_last_line(exc)}") from None
    return parse_push_digest(out)


def login(host: str, username: str, password: Secret) -> None:
    try:
        proc.run(login_command(host, username), input_text=password.reveal())
    except CommandError as exc:
        # The password went through stdin: the message can only hold the client's.
        raise RegistryError(
            f"docker login to {host} failed: {_last_line(exc)}"
        ) from None


def pushed_digests(local_ref: str, name: str) -> set[str]:
    """The digests this engine recorded when it pushed local_ref to `name`
    (registry/repository), from the image's RepoDigests; empty if it never did."""
    r = proc.run(
        ["docker", "image", "inspect", "--format", "{{json .RepoDigests}}", local_ref],
        check=False,
    )
    if r.returncode != 0:
        raise RegistryError(f"no local image {local_ref}")
    found = set()
    for entry in json.loads(r.stdout or "[]") or []:
        repo, _, digest = entry.partition("@")
        if repo == name:
            found.add(digest)
    return found


def present(name: str) -> bool:
    """The local engine has this image."""
    r = proc.run(["docker", "image", "inspect", name], check=False)
    return r.returncode == 0


def image_id(name: str) -> str | None:
    """The local image's ID (sha256:<64 hex>, the digest of its config), or None."""
    r = proc.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", name], check=False
    )
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


def pull(name: str, timeout: float) -> bool:
    """Pulled within `timeout` seconds (False when unreachable, e.g. offline)."""
    try:
        r = proc.run(["docker", "pull", "-q", name], check=False, timeout=timeout)
    except CommandError:  # timed out
        return False
    return r.returncode == 0
