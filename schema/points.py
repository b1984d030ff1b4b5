"""Points as GraphQL types."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from domain.paging import listed_max
from domain.points import rules as points_rules
from domain.points import service as points
from domain.points import tables as points_tables
from domain.points.accrual import MonthlyAccrualRun
from domain.points.service import expiring_days_max, statement_entries_max
from domain.work.tables import JobStatus
from schema.common import Long, Month, UserError, client_keys, joined, listed, node_keys, read_alone, row_type
from schema.organisation import StaffType

EntryType = strawberry.enum(points_tables.EntryType, description="What a movement of points is [P1].")
RuleKind = strawberry.enum(points_tables.RuleKind)


@strawberry.type(description="Points that expire on one day.")
class ExpiringPoints:
    points: Long
    expires_on: date


@strawberry.type(
    description="A member's points: available = posted − held − what lots that ended before today still hold"
    " (never spent; moved to breakage by the daily expiry)."
)
class Points:
    posted: Long
    held: Long
    available: Long

    @strawberry.field(description="Points expiring within `days` days (default 30), by date [P5].",
                      metadata=read_alone(**listed(expiring_days_max + 1, per="days")))  # fmt: skip
    async def expiring_soon(self, info: strawberry.Info, days: int = 30) -> list[ExpiringPoints]:
        return await info.context.read(lambda s: points.expiring_soon(s, self.member_id, days))


@strawberry.type(name="PointsTransaction", description="One ledger entry of a member; never changed once made.")
class PointsTransactionType(relay.Node):
    id: relay.NodeID[int]
    entry_type: EntryType
    points: Long = strawberry.field(description="The member's side: positive earned, negative spent or lost.")
    effective_on: date
    reason: str | None
    created_at: datetime
    is_type_of = row_type(points_tables.LedgerTransaction)

    @strawberry.field(description="The transaction this one reverses.")
    @joined("transactions_scoped", "reverses_id")
    def reverses(self, info: strawberry.Info) -> PointsTransactionType | None: ...

    @strawberry.field
    @joined("staff", "staff_id")
    def staff(self, info: strawberry.Info) -> StaffType | None: ...

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.transactions_scoped.load_many(node_keys(node_ids))


@strawberry.type(description="Points by entry type for a period.")
class PointsTotal:
    entry_type: EntryType
    points: Long
    entries: int


@strawberry.type(name="PointsRuleChange")
class PointsRuleChangeType:
    action: str
    before: JSON | None = strawberry.field(resolver=lambda root: client_keys(root.before))
    after: JSON = strawberry.field(resolver=lambda root: client_keys(root.after))
    changed_at: datetime

    @strawberry.field
    @joined("staff", "staff_id")
    def changed_by(self, info: strawberry.Info) -> StaffType | None: ...


@strawberry.type(name="PointsRule", description="An earning, validity or penalty rule, in force for its dates [P2].")
class PointsRuleType(relay.Node):
    id: relay.NodeID[int]
    kind: RuleKind
    grade_code: str | None
    value: Decimal
    effective_from: date
    effective_to: date | None
    is_type_of = row_type(points_tables.PointsRule)

    @strawberry.field(
        description="Its last 100 changes, oldest first: who, when, before and after.", metadata=listed(listed_max)
    )
    @joined("rule_changes", "id")
    def changes(self, info: strawberry.Info) -> list[PointsRuleChangeType]: ...

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        rules = await info.context.read(lambda s: points_rules.list_rules(s, info.context.principal))
        by_id = {r.id: r for r in rules}
        return [by_id.get(i) for i in node_keys(node_ids)]


@strawberry.input
class PointsHistoryFilter:
    entry_types: list[EntryType] | None = None
    start: date | None = strawberry.field(default=None, name="from", description="Effective on or after (inclusive).")
    end: date | None = strawberry.field(default=None, name="to", description="Effective on or before (inclusive).")


@strawberry.input(description="A manual bonus or penalty [P4]. Retrying with the same idempotencyKey is safe.")
class AdjustPointsInput:
    member_id: relay.GlobalID
    points: int = strawberry.field(
        description="Positive to add, negative to take (never below zero); |points| ≤ 10,000,000."
    )
    reason: str
    idempotency_key: str
    entry_type: EntryType = points_tables.EntryType.ADJUSTMENT


@strawberry.input(description="Undo a ledger entry with a new entry that references it.")
class ReversePointsTransactionInput:
    transaction_id: relay.GlobalID
    reason: str
    idempotency_key: str


@strawberry.type
class PointsTransactionPayload:
    errors: list[UserError]
    transaction: PointsTransactionType | None = None
    replayed: bool = strawberry.field(
        default=False,
        description="This answer is the stored one of an earlier request with the same idempotency key, as it was"
        " then: nothing was done again.",
    )


@strawberry.input
class CreatePointsRuleInput:
    kind: RuleKind
    value: Decimal
    effective_from: date
    effective_to: date | None = None
    grade_code: str | None = strawberry.field(default=None, description="For GRADE_MULTIPLIER rules only.")


@strawberry.input(
    description="Change a rule's value or dates; past entries keep their points. Set effectiveTo to retire it."
)
class UpdatePointsRuleInput:
    id: relay.GlobalID
    value: Decimal | None = strawberry.UNSET
    effective_from: date | None = strawberry.UNSET
    effective_to: date | None = strawberry.UNSET


@strawberry.type
class PointsRulePayload:
    errors: list[UserError]
    rule: PointsRuleType | None = None


@strawberry.input(description="One month's bill of an account, as the billing system reports it.")
class RecordBillInput:
    account_number: str
    billing_month: Month = strawberry.field(description="A finished month, from 2000-01 on.")
    amount_billed_fen: int = strawberry.field(
        description="Fen. The amount paid may be larger (a credit the billing system carries); the bill then"
        " earns on the amount billed."
    )
    amount_paid_fen: int
    due_date: date
    paid_date: date | None = None


@strawberry.type(name="Bill")
class BillType:
    billing_month: Month
    amount_billed_fen: int
    amount_paid_fen: int
    due_date: date
    paid_date: date | None


@strawberry.type
class RecordBillPayload:
    errors: list[UserError]
    bill: BillType | None = None


@strawberry.input(description="Earn a month's points from its paid bills; safe to repeat.")
class RunMonthlyAccrualInput:
    month: Month = strawberry.field(description="A finished month.")


AccrualRunStatus = strawberry.enum(JobStatus, name="AccrualRunStatus", description="Where a monthly run stands.")


@strawberry.type(description="One run of the monthly points calculation [P3]: how far it got and what it earned.")
class MonthlyAccrual(relay.Node):
    id: relay.NodeID[int]
    status: AccrualRunStatus
    bills_total: int = strawberry.field(description="Bills of the month still to earn when the run started.")
    bills: int = strawberry.field(description="Bills earned by this run so far.")
    members: int = strawberry.field(description="Members whose points changed (when done).")
    points: Long = strawberry.field(description="Points earned, net of penalties, so far.")
    penalties: int
    error: str | None = strawberry.field(description="Why a FAILED or INTERRUPTED run stopped.")
    month: Month
    started_at: datetime
    finished_at: datetime | None

    @strawberry.field(description="Who started it; none when it was started from the command line.")
    @joined("staff", "staff_id")
    def started_by(self, info: strawberry.Info) -> StaffType | None: ...

    is_type_of = row_type(MonthlyAccrualRun)

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.accrual_runs_scoped.load_many(node_keys(node_ids))


@strawberry.type
class RunMonthlyAccrualPayload:
    errors: list[UserError]
    run: MonthlyAccrual | None = None


@strawberry.type(
    description="A member's points for one month: opening + earned + spent = closing, over all of the month's entries."
)
class PointsStatement:
    month: Month
    opening: Long
    earned: Long = strawberry.field(description="Points the month's entries added: earnings, bonuses, and what "
                                    "cancellations and reversals gave back.")  # fmt: skip
    spent: Long = strawberry.field(description="Points the month's entries took (negative): redemptions, "
                                   "expiry, penalties, debits.")  # fmt: skip
    closing: Long
    entry_count: int = strawberry.field(description="How many entries the month holds.")
    entries: list[PointsTransactionType] = strawberry.field(
        description="The month's first 1,000 entries, in the order they take effect; when `entryCount` is more, "
        "`pointsHistory(filter: {from, to})` pages through them all.",
        metadata=listed(statement_entries_max),
    )
