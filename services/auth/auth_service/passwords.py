"""Password hashing with stdlib scrypt (memory-hard, no extra dependency)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

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
