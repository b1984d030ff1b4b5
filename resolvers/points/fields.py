"""Points: adjustments, reversals, rules, totals."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from domain.points import accrual, bills, rules
from domain.points import service as points
from resolvers.declare import mutation_field
from resolvers.edge import read
from schema.common import Month
from schema.points import (
    AdjustPointsInput,
    CreatePointsRuleInput,
    MonthlyAccrual,
    PointsRulePayload,
    PointsRuleType,
    PointsTotal,
    PointsTransactionPayload,
    RecordBillInput,
    RecordBillPayload,
    ReversePointsTransactionInput,
    RunMonthlyAccrualInput,
    RunMonthlyAccrualPayload,
    UpdatePointsRuleInput,
)


@strawberry.type
class PointsQuery:
    @strawberry.field(
        description="Points by entry type in the inclusive period of at most 3,660 days, for the members in your"
        " subtree now (staff)."
    )
    async def points_totals(
        self,
        info: strawberry.Info,
        start: Annotated[date, strawberry.argument(name="from")],
        end: Annotated[date, strawberry.argument(name="to")],
    ) -> list[PointsTotal]:
        return await read(info, lambda s: points.totals(s, info.context.principal, start=start, end=end))

    @strawberry.field(description="The latest monthly runs, newest first (headquarters administrators).")
    async def monthly_accrual_runs(self, info: strawberry.Info, month: Month | None = None) -> list[MonthlyAccrual]:
        return await read(info, lambda s: accrual.runs(s, info.context.principal, month))

    @strawberry.field(description="Every points rule, past, present and future (staff).")
    async def points_rules(self, info: strawberry.Info) -> list[PointsRuleType]:
        return await read(info, lambda s: rules.list_rules(s, info.context.principal))


@strawberry.type
class PointsMutation:
    adjust_points = mutation_field(
        points.adjust_points,
        AdjustPointsInput,
        PointsTransactionPayload,
        "transaction",
        description="Add or take points by hand with a reason (administrators, club operators).",
    )

    reverse_points_transaction = mutation_field(
        points.reverse_points_transaction,
        ReversePointsTransactionInput,
        PointsTransactionPayload,
        "transaction",
        description="Reverse a ledger entry; the original stays (administrators).",
    )

    record_bill = mutation_field(
        bills.record_bill,
        RecordBillInput,
        RecordBillPayload,
        "bill",
        description="Enter one month's bill of an account (administrators, club operators).",
    )

    run_monthly_accrual = mutation_field(
        accrual.run_monthly_accrual,
        RunMonthlyAccrualInput,
        RunMonthlyAccrualPayload,
        "run",
        description="Start the monthly points calculation for a finished month (headquarters administrators); it runs"
        " in the background: follow it with `node(id:)` or `monthlyAccrualRuns`.",
    )

    create_points_rule = mutation_field(
        rules.create_points_rule,
        CreatePointsRuleInput,
        PointsRulePayload,
        "rule",
        description="Add an earning, validity or penalty rule (administrators).",
    )

    update_points_rule = mutation_field(
        rules.update_points_rule,
        UpdatePointsRuleInput,
        PointsRulePayload,
        "rule",
        description="Change or retire a points rule; past entries keep their points (administrators).",
    )
