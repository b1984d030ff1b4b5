"""Points: adjustments, reversals, rules, totals."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from domain.points import accrual, bills, rules
from domain.points import service as points
from resolvers.edge import mutate, read
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
    @strawberry.field(description="Points by entry type in the inclusive period, for members in your subtree (staff).")
    async def points_totals(
        self,
        info: strawberry.Info,
        start: Annotated[date, strawberry.argument(name="from")],
        end: Annotated[date, strawberry.argument(name="to")],
    ) -> list[PointsTotal]:
        return await read(info, lambda s: points.totals(s, info.context.principal, start=start, end=end))

    @strawberry.field(description="The latest monthly runs, newest first (headquarters administrators).")
    async def monthly_accrual_runs(self, info: strawberry.Info, month: str | None = None) -> list[MonthlyAccrual]:
        return await read(info, lambda s: accrual.runs(s, info.context.principal, month))

    @strawberry.field(description="Every points rule, past, present and future (staff).")
    async def points_rules(self, info: strawberry.Info) -> list[PointsRuleType]:
        return await read(info, lambda s: rules.list_rules(s, info.context.principal))


@strawberry.type
class PointsMutation:
    @strawberry.mutation(description="Add or take points by hand with a reason (administrators, club operators).")
    async def adjust_points(self, info: strawberry.Info, input: AdjustPointsInput) -> PointsTransactionPayload:
        return await mutate(info, PointsTransactionPayload, points.adjust_points, input, "transaction")

    @strawberry.mutation(description="Reverse a ledger entry; the original stays (administrators).")
    async def reverse_points_transaction(
        self, info: strawberry.Info, input: ReversePointsTransactionInput
    ) -> PointsTransactionPayload:
        return await mutate(info, PointsTransactionPayload, points.reverse_points_transaction, input, "transaction")

    @strawberry.mutation(description="Enter one month's bill of an account (administrators, club operators).")
    async def record_bill(self, info: strawberry.Info, input: RecordBillInput) -> RecordBillPayload:
        return await mutate(info, RecordBillPayload, bills.record_bill, input, "bill")

    @strawberry.mutation(
        description="Start the monthly points calculation for a finished month (headquarters administrators); it runs"
        " in the background: follow it with `node(id:)` or `monthlyAccrualRuns`."
    )
    async def run_monthly_accrual(
        self, info: strawberry.Info, input: RunMonthlyAccrualInput
    ) -> RunMonthlyAccrualPayload:
        return await mutate(info, RunMonthlyAccrualPayload, accrual.run_monthly_accrual, input, "run")

    @strawberry.mutation(description="Add an earning, validity or penalty rule (administrators).")
    async def create_points_rule(self, info: strawberry.Info, input: CreatePointsRuleInput) -> PointsRulePayload:
        return await mutate(info, PointsRulePayload, rules.create_points_rule, input, "rule")

    @strawberry.mutation(description="Change or retire a points rule; past entries keep their points (administrators).")
    async def update_points_rule(self, info: strawberry.Info, input: UpdatePointsRuleInput) -> PointsRulePayload:
        return await mutate(info, PointsRulePayload, rules.update_points_rule, input, "rule")
