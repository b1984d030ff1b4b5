"""Argon2id hashing of passwords (and, later, card PINs) through libpass."""

from __future__ import annotations

from passlib.context import CryptContext

_context = CryptContext(schemes=["argon2"], argon2__type="ID")
# Longer input is never a valid secret; refusing it early also bounds the hashing work.
secret_length_max = 1_024


def configure(*, time_cost: int, memory_cost_kib: int, parallelism: int = 1) -> None:
    """Set the cost once at start-up; tests use a small cost to stay fast."""
    global _context
    _context = CryptContext(
        schemes=["argon2"],
        argon2__type="ID",
        argon2__rounds=time_cost,
        argon2__memory_cost=memory_cost_kib,
        argon2__parallelism=parallelism,
    )


def hash_secret(secret: str) -> str:
    return _context.hash(secret)


def verify_secret(secret: str, secret_hash: str | None) -> tuple[bool, str | None]:
    """(matches, new hash when the stored one was made with other parameters)."""
    if secret_hash is None or not isinstance(secret, str) or len(secret) > secret_length_max:
        # Spend the same time as a real check so that timing tells nothing.
        _context.dummy_verify()
        return False, None
    return _context.verify_and_update(secret, secret_hash)
