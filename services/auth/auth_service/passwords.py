"""Password hashing with stdlib scrypt (memory-hard, no extra dependency)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import secrets
import threading
from collections.abc import Iterator

# ~16 MiB and tens of milliseconds per hash: slow for attackers, fine for logins.
N, R, P, DKLEN = 2**14, 8, 1, 32


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=DKLEN
    )


def hash_password(password: str) -> str:
    """Self-describing ``scrypt$n$r$p$salt$hash`` so parameters can evolve."""
    salt = secrets.token_bytes(16)
    digest = _derive(password, salt, N, R, P)
    return f"scrypt${N}${R}${P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        candidate = _derive(password, bytes.fromhex(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(candidate, bytes.fromhex(digest))


@functools.cache
def dummy_hash() -> str:
    """Checked against for unknown users so response time does not reveal them."""
    return hash_password(secrets.token_urlsafe(16))


# Each hash holds ~16 MiB for tens of milliseconds: four at once bounds the KDF's
# memory at ~64 MiB and leaves CPU for everything else, whatever the request rate.
MAX_CONCURRENT_HASHES = 4
# A burst waits this long for a slot before it is refused (503, Retry-After).
SLOT_WAIT_SECONDS = 1.0


class KdfBusy(Exception):
    """Every KDF slot stayed busy for the whole wait."""


class KdfSlots:
    """A bound on concurrent KDF work (the endpoints run in a thread pool)."""

    def __init__(
        self,
        limit: int = MAX_CONCURRENT_HASHES,
        wait_seconds: float = SLOT_WAIT_SECONDS,
    ) -> None:
        self.limit = limit
        self.wait_seconds = wait_seconds
        self._semaphore = threading.BoundedSemaphore(limit)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        if not self._semaphore.acquire(timeout=self.wait_seconds):
            raise KdfBusy(f"all {self.limit} password-hashing slots are busy")
        try:
            yield
        finally:
            self._semaphore.release()
