"""Idempotency keys: the same key and request return the stored result; another request is refused.

The key is claimed first, in the caller's transaction: a concurrent request with the same key
waits on the claim, then sees the stored result, so an operation never happens twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access import MemberPrincipal, PartnerPrincipal, Principal, StaffPrincipal, unauthenticated
from domain.columns import record_columns, record_from_json
from domain.errors import DomainError, ErrorCode, RecordedRefusal
from domain.work.commands import Idempotent, hints_of
from domain.work.tables import IdempotencyRecord

key_length_max = 100
H = TypeVar("H", bound=Callable[..., Any])
T = TypeVar("T")


@dataclass(frozen=True)
class Claim:
    """An idempotency key to claim: the scope (the command's type and the caller), the key, the request's digest.

    A handler that `claims_its_key` hands these to its one statement, which claims the key,
    answers a replay with the stored result, and stores its own (`idempotency_claim` in migration 0009,
    `idempotency_keep` in migration 0019). No key: all three are None, and nothing is claimed.
    """

    scope: str | None = None
    key: str | None = None
    digest: bytes | None = None

    def params(self) -> dict[str, Any]:
        return {"scope": self.scope, "key": self.key, "digest": self.digest}


NO_CLAIM = Claim()


def claims_its_key(handler: H) -> H:
    """Mark a handler whose one statement claims the key itself (from `uow.claim`): the unit of work then
    sends nothing of its own, and the request is one round trip to the database."""
    handler.claims_its_key = True  # type: ignore[attr-defined]
    return handler


def _digest(request: dict[str, Any]) -> bytes:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).digest()


def _caller(principal: Principal) -> str:
    if isinstance(principal, StaffPrincipal):
        return f"STAFF:{principal.staff_id}"
    if isinstance(principal, MemberPrincipal):
        return f"MEMBER:{principal.member_id}"
    if isinstance(principal, PartnerPrincipal):
        return f"PARTNER:{principal.partner_id}"
    raise unauthenticated()


async def run_once(uow: Any, handler: Callable[[Any, Any], Awaitable[Any]], command: Idempotent) -> Any:
    """Run `handler` unless this key ran already; then return what it returned the first time.

    The scope is the command's type and the caller: two callers never share a key.
    """
    command.authorize(uow.principal)
    key = command.idempotency_key
    if key is None:
        if command.key_required:
            raise DomainError(ErrorCode.REQUIRED, "Points-moving requests need an idempotency_key.", "idempotency_key")
        return await handler(uow, command)
    if not key:
        raise DomainError(ErrorCode.REQUIRED, "idempotency_key must not be empty.", "idempotency_key")
    if len(key) > key_length_max:
        raise DomainError(
            ErrorCode.TOO_LONG, f"idempotency_key is longer than {key_length_max} characters.", "idempotency_key"
        )
    if not key.isprintable():
        raise DomainError(ErrorCode.INVALID, "idempotency_key must be printable characters.", "idempotency_key")
    uow.claim = Claim(f"{type(command).__name__}:{_caller(uow.principal)}", key, _digest(command.request()))
    try:
        if getattr(handler, "claims_its_key", False):
            return await handler(uow, command)
        return await in_transaction(uow, lambda: handler(uow, command), hints_of(handler)["return"])
    finally:
        uow.claim = NO_CLAIM  # the key is this command's, never a next one's


async def in_transaction(uow: Any, work: Callable[[], Awaitable[T]], result_type: type[T]) -> T:
    """Carry out `work` in the unit's transaction, the key of `uow.claim` claimed first (a replay answers the
    stored `result_type` row instead): how every idempotent command runs, unless its handler `claims_its_key`
    in its one statement; such a handler may still hand a case back here (one its statement cannot do)."""
    scope, key, digest = uow.claim.scope, uow.claim.key, uow.claim.digest
    if key is None:
        return await work()
    replay = await _claim(uow.session, scope, key, digest)
    if replay is not None:
        uow.replayed = True
        if "row" in replay:  # the result as it was then (a card may have moved on since)
            return record_from_json(result_type, replay["row"])
        return await uow.session.get(result_type, replay["id"])
    try:
        result = await work()
    except RecordedRefusal:  # its record commits; the key stays free for a retry that may succeed
        await uow.session.execute(
            sa.delete(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
        )
        raise
    identity = sa.inspect(result).identity
    assert identity is not None and len(identity) == 1, "an idempotent command returns one stored row"
    kept = {c.key: getattr(result, c.key) for c in record_columns(result_type) if not c.key.endswith("_hash")}
    row = json.loads(json.dumps(kept, default=str))  # no secret is copied into the record
    # Stored through the key's own index (the claimed row is found by the conflict, not by a plan: migration 0019).
    stored = {"id": identity[0], "row": row}
    await uow.session.execute(
        insert(IdempotencyRecord)
        .values(scope=scope, key=key, request_sha256=digest, result=stored)
        .on_conflict_do_update(index_elements=[IdempotencyRecord.scope, IdempotencyRecord.key], set_={"result": stored})
    )
    return result


async def made_already(uow: Any, model: Any) -> Any | None:
    """The record of `model` this key made, as it was then, when the request is a retry of the one that made it
    (the same caller, key and request), else None: a handler whose checks before its statement refuse (a card
    locked since, an account throttled since) still answers a retry of what was done with it, as the statement
    would."""
    scope, key, digest = uow.claim.scope, uow.claim.key, uow.claim.digest
    if key is None:
        return None
    stored = await uow.session.scalar(
        sa.select(IdempotencyRecord.result).where(
            IdempotencyRecord.scope == scope, IdempotencyRecord.key == key, IdempotencyRecord.request_sha256 == digest
        )
    )
    if not stored or "row" not in stored:  # none, another request's, or one still under way
        return None
    uow.replayed = True
    return record_from_json(model, stored["row"])


async def _claim(session: AsyncSession, scope: str, key: str, digest: bytes) -> dict[str, Any] | None:
    """None when the key is new (now claimed); the stored result when it is a replay.

    A concurrent request with the same key waits on the claim's row, then sees the result.
    """
    claimed = await session.scalar(
        insert(IdempotencyRecord)
        .values(scope=scope, key=key, request_sha256=digest, result={})
        .on_conflict_do_nothing()
        .returning(IdempotencyRecord.key)
    )
    if claimed is not None:
        return None
    stored = (
        await session.execute(
            sa.select(IdempotencyRecord.request_sha256, IdempotencyRecord.result).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
            )
        )
    ).one()
    if stored.request_sha256 != digest:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_CONFLICT, "This idempotency key was used for another request.", "idempotency_key"
        )
    return stored.result
