"""Idempotency keys: the same key and request return the stored result; another request is refused.

The key is claimed first, in the caller's transaction: a concurrent request with the same key
waits on the claim, then sees the stored result, so an operation never happens twice.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import DomainError, ErrorCode
from domain.tables import IdempotencyRecord

key_length_max = 100


def _digest(request: dict[str, Any]) -> bytes:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).digest()


async def claim(session: AsyncSession, scope: str, key: str | None, request: dict[str, Any]) -> dict[str, Any] | None:
    """None when the request is new (go ahead, then `remember`); the stored result when it is a replay."""
    if key is None:
        return None
    if not isinstance(key, str) or not 0 < len(key) <= key_length_max:
        raise DomainError(
            ErrorCode.INVALID, f"idempotencyKey must be 1 to {key_length_max} characters.", "idempotencyKey"
        )
    digest = _digest(request)
    claimed = await session.scalar(
        insert(IdempotencyRecord)
        .values(scope=scope, key=key, request_sha256=digest, result={})
        .on_conflict_do_nothing()
        .returning(IdempotencyRecord.key)
    )
    if claimed is not None:
        return None
    stored = (
        await session.scalars(
            sa.select(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
        )
    ).one()
    if stored.request_sha256 != digest:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_CONFLICT, "This idempotency key was used for another request.", "idempotencyKey"
        )
    return stored.result


async def remember(session: AsyncSession, scope: str, key: str | None, result: dict[str, Any]) -> None:
    if key is not None:
        await session.execute(
            sa.update(IdempotencyRecord)
            .where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
            .values(result=result)
        )
