"""argon2id password hashes (argon2-cffi's defaults: RFC 9106 low-memory profile)."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
MIN_LENGTH = 8
# verified when the user does not exist, so a wrong name costs as long as a wrong password
_DUMMY = _HASHER.hash("not-a-real-password")


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password needs at least {MIN_LENGTH} characters")
    return _HASHER.hash(password)


def verify(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Tokens and session ids are random (256 bits): a plain sha256 is enough to keep the
    database from holding anything that logs in."""
    return hashlib.sha256(token.encode()).hexdigest()
