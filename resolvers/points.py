"""Points: adjustments, reversals, rules, totals."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from domain.points import accrual, bills, rules
from domain.points import service as points
from domain.points.rules import accrual_month
from resolvers.edge import fields, mutate, read
from schema.points import (
    AdjustPointsInput,
    CreatePointsRuleInput,
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

    @strawberry.field(description="Every points rule, past, present and future (staff).")
    async def points_rules(self, info: strawberry.Info) -> list[PointsRuleType]:
        return await info.context.points_rules()


@strawberry.type
class PointsMutation:
    @strawberry.mutation(description="Add or take points by hand with a reason (administrators, club operators).")
    async def adjust_points(self, info: strawberry.Info, input: AdjustPointsInput) -> PointsTransactionPayload:
        return await mutate(
            info,
            PointsTransactionPayload,
            lambda s: points.adjust_points(s, info.context.principal, **fields(input)),
            "transaction",
        )

    @strawberry.mutation(description="Reverse a ledger entry; the original stays (administrators).")
    async def reverse_points_transaction(
        self, info: strawberry.Info, input: ReversePointsTransactionInput
    ) -> PointsTransactionPayload:
        return await mutate(
            info,
            PointsTransactionPayload,
            lambda s: points.reverse_transaction(s, info.context.principal, **fields(input)),
            "transaction",
        )

    @strawberry.mutation(description="Enter one month's bill of an account (administrators, club operators).")
    async def record_bill(self, info: strawberry.Info, input: RecordBillInput) -> RecordBillPayload:
        return await mutate(
            info, RecordBillPayload, lambda s: bills.record_bill(s, info.context.principal, **fields(input)), "bill"
        )

    @strawberry.mutation(description="Run the monthly points calculation for a month (headquarters administrators).")
    async def run_monthly_accrual(
        self, info: strawberry.Info, input: RunMonthlyAccrualInput
    ) -> RunMonthlyAccrualPayload:
        async def action(session):
            first_day = await accrual_month(session, info.context.principal, input.month)
            return {"run": await accrual.accrue_month(info.context.sessions, first_day)}

        return await mutate(info, RunMonthlyAccrualPayload, action)

    @strawberry.mutation(description="Add an earning, validity or penalty rule (administrators).")
    async def create_points_rule(self, info: strawberry.Info, input: CreatePointsRuleInput) -> PointsRulePayload:
        return await mutate(
            info, PointsRulePayload, lambda s: rules.create_rule(s, info.context.principal, **fields(input)), "rule"
        )

    @strawberry.mutation(description="Change or retire a points rule; past entries keep their points (administrators).")
    async def update_points_rule(self, info: strawberry.Info, input: UpdatePointsRuleInput) -> PointsRulePayload:
        return await mutate(
            info,
            PointsRulePayload,
            lambda s: rules.update_rule(s, info.context.principal, **fields(input, "PointsRule")),
            "rule",
        )
