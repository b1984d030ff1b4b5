"""Reading the audit trail: its events for auditors and administrators within their subtree, and the export."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from domain import clock
from domain.access import Permission, Principal, StaffPrincipal, require_staff, role_grants
from domain.audit import trail
from domain.audit.tables import (
    AuditEvent,
    operation_length_max,
    outcome_length_max,
    request_id_length_max,
)
from domain.auth.tables import PrincipalKind
from domain.columns import record_columns, records_of
from domain.errors import DomainError, ErrorCode, every_code
from domain.files import written_whole
from domain.organisation.service import in_subtree
from domain.organisation.tables import Branch
from domain.paging import Page, PageRequest, fetch_page
from domain.validation import Checker, date_max, date_min
from domain.work.commands import AnyNodeId

export_rows_per_batch = 1_000  # rows the export fetches from its cursor at a time: its memory stays flat
# The node types of callers, for a filter by principal (a global ID of one of them).
PRINCIPAL_NODES = {"Staff": PrincipalKind.STAFF, "Member": PrincipalKind.MEMBER, "Partner": PrincipalKind.PARTNER,
                   "Operator": PrincipalKind.OPERATOR}  # fmt: skip
API_CLIENT_NODE = "PartnerApiClient"  # a partner's key: the events of the calls made with it


def outcomes() -> frozenset[str]:
    """What `outcome` may hold: OK, REPLAYED, or an error code."""
    return frozenset({trail.OK, trail.REPLAYED, *every_code()})


def in_scope(actor: StaffPrincipal) -> Any:
    """The events of the actor's subtree: every event for headquarters (its subtree is the whole club, and
    national events, of a partner without a branch, are its alone)."""
    if actor.branch_path.count("/") <= 2:  # "/1/": the root of the tree
        return sa.true()
    return in_subtree(AuditEvent.branch_path, actor.branch_path)


def _period(check: Checker, start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """Inclusive days as [start 00:00, day after end 00:00) in the club's time zone; at most `period_days_max` days
    apart."""
    for field, day in (("occurred_from", start), ("occurred_to", end)):
        if day and not date_min <= day <= date_max:
            check.fail(field, ErrorCode.OUT_OF_RANGE, f"Days run from {date_min} to {date_max}.")
    if check.problems:
        return None, None
    check.period("occurred_to", start, end)
    begin = datetime.combine(start, time.min, tzinfo=clock.zone) if start else None
    finish = datetime.combine(end + timedelta(days=1), time.min, tzinfo=clock.zone) if end else None
    return begin, finish


async def list_events(
    session: AsyncSession,
    principal: Principal,
    page: PageRequest,
    *,
    occurred_from: date | None = None,
    occurred_to: date | None = None,
    principal_kind: PrincipalKind | None = None,
    principal_id: AnyNodeId | None = None,
    operation: str | None = None,
    outcome: str | None = None,
    request_id: str | None = None,
    target: AnyNodeId | None = None,
) -> Page[AuditEvent]:
    """The audit events of the caller's subtree, newest first (auditors and administrators).

    `principal_id` is the global ID of a member of staff, a member, a partner or a partner's key
    (`PartnerApiClient`: what was done with that key); `target` of any object,
    found among the objects an event's command named and the object it answered with."""
    actor = require_staff(principal, Permission.AUDIT_READ)
    check = Checker()
    begin, finish = _period(check, occurred_from, occurred_to)
    operation = check.text("operation", operation, length_max=operation_length_max)
    outcome = check.text("outcome", outcome, length_max=outcome_length_max)
    request_id = check.text("request_id", request_id, length_max=request_id_length_max)
    if outcome is not None and outcome not in outcomes():
        check.fail("outcome", ErrorCode.INVALID, "outcome is OK, REPLAYED or an error code.")
    caller = None
    if principal_id is not None:
        node, _, key = principal_id.partition(":")
        if node == API_CLIENT_NODE:
            caller = (PrincipalKind.PARTNER, None, int(key))
        elif node not in PRINCIPAL_NODES:
            check.fail(
                "principal_id",
                ErrorCode.INVALID,
                "principal_id names a member of staff, member, partner or partner key.",
            )
        else:
            caller = (PRINCIPAL_NODES[node], int(key), None)
    check.raise_if_any()
    event = AuditEvent
    query = sa.select(event).where(in_scope(actor))
    tests = [
        (begin, event.occurred_at.__ge__),
        (finish, event.occurred_at.__lt__),
        (principal_kind, event.principal_kind.__eq__),
        (operation, event.operation.__eq__),
        (outcome, event.outcome.__eq__),
        (request_id, event.request_id.__eq__),
    ]
    query = query.where(*[test(value) for value, test in tests if value is not None])
    if caller is not None:
        kind, caller_id, key_id = caller
        query = query.where(event.principal_kind == kind)
        query = query.where(event.principal_id == caller_id if key_id is None else event.api_client_id == key_id)
    if target is not None:
        query = query.where(sa.or_(sa.literal(target) == sa.any_(event.targets), event.result_id == target))
    return await fetch_page(session, query, event.id, page, descending=True)


async def get_events_scoped(session: AsyncSession, principal: Principal, ids: list[int]) -> list[Any]:
    """Events by id for a node lookup: those of the caller's subtree, for auditors and administrators."""
    if not role_grants(principal, Permission.AUDIT_READ):
        return [None] * len(ids)
    query = sa.select(*record_columns(AuditEvent)).where(AuditEvent.id.in_(ids), in_scope(principal))
    found = {e.id: e for e in records_of(AuditEvent, (await session.execute(query)).all())}
    return [found.get(i) for i in ids]


# --- the export -------------------------------------------------------------------------------------

EXPORTED = (
    "id",
    "occurred_at",
    "request_id",
    "principal_kind",
    "principal_id",
    "branch_path",
    "client_address",
    "operation",
    "targets",
    "result_id",
    "outcome",
    "api_client_id",  # last: added after the others, so that readers of the earlier files go on reading
)


@dataclass(frozen=True)
class Exported:
    events: int
    first_id: int | None
    last_id: int | None


async def export(
    engine: AsyncEngine,
    start: date,
    end: date,
    output: Path,
    *,
    branch_code: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Exported:
    """The events of [start, end] (inclusive days of the club's time zone), of a branch's subtree if given,
    oldest first, as CSV in `output`: a header, then a row per event (targets joined by spaces). Rows come
    from a server-side cursor `export_rows_per_batch` at a time, so memory stays flat however many there are;
    the file is written whole or not at all, readable by its owner only (it names clients' addresses), and never over
    anything but a regular file (`written_whole`)."""
    check = Checker()
    begin, finish = _period(check, start, end)
    check.raise_if_any()
    written, first, last = 0, None, None
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="REPEATABLE READ")  # one snapshot for the whole file
        async with connection.begin():
            query = sa.select(*(AuditEvent.__table__.c[name] for name in EXPORTED)).where(
                AuditEvent.occurred_at >= begin, AuditEvent.occurred_at < finish
            )
            if branch_code is not None:
                path = await connection.scalar(sa.select(Branch.path).where(Branch.code == branch_code))
                if path is None:
                    raise DomainError(ErrorCode.NOT_FOUND, f"No branch {branch_code}.", "branch")
                query = query.where(in_subtree(AuditEvent.branch_path, path))
            with written_whole(output) as partial, partial.open("w", encoding="utf-8", newline="") as file:
                out = csv.writer(file)
                out.writerow(EXPORTED)
                async for rows in _batches(connection, query.order_by(AuditEvent.id)):
                    out.writerows(_csv_row(row) for row in rows)
                    written += len(rows)
                    first = rows[0].id if first is None else first
                    last = rows[-1].id
                    if progress is not None:
                        progress(len(rows))
    return Exported(written, first, last)


async def _batches(connection: Any, query: Any) -> AsyncIterator[list[Any]]:
    result = await connection.stream(query.execution_options(yield_per=export_rows_per_batch))
    async for rows in result.partitions(export_rows_per_batch):
        yield rows


def _csv_row(row: Any) -> list[Any]:
    """An event as CSV fields: the time in ISO 8601 with its offset, the targets separated by spaces."""
    return [
        row.id,
        row.occurred_at.isoformat(),
        row.request_id,
        row.principal_kind.value,
        row.principal_id,
        row.branch_path,
        row.client_address,
        row.operation,
        " ".join(row.targets),
        row.result_id,
        row.outcome,
        row.api_client_id,
    ]
