"""Points: adjustments, reversals, rules, totals."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from domain.points import accrual, bills, rules
from domain.points import service as points
from resolvers.edge import fields, mutate_legacy, read
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
        return await info.context.points_rules()


@strawberry.type
class PointsMutation:
    @strawberry.mutation(description="Add or take points by hand with a reason (administrators, club operators).")
    async def adjust_points(self, info: strawberry.Info, input: AdjustPointsInput) -> PointsTransactionPayload:
        return await mutate_legacy(
            info,
            PointsTransactionPayload,
            lambda s: points.adjust_points(s, info.context.principal, **fields(input)),
            "transaction",
        )

    @strawberry.mutation(description="Reverse a ledger entry; the original stays (administrators).")
    async def reverse_points_transaction(
        self, info: strawberry.Info, input: ReversePointsTransactionInput
    ) -> PointsTransactionPayload:
        return await mutate_legacy(
            info,
            PointsTransactionPayload,
            lambda s: points.reverse_transaction(s, info.context.principal, **fields(input)),
            "transaction",
        )

    @strawberry.mutation(description="Enter one month's bill of an account (administrators, club operators).")
    async def record_bill(self, info: strawberry.Info, input: RecordBillInput) -> RecordBillPayload:
        return await mutate_legacy(
            info, RecordBillPayload, lambda s: bills.record_bill(s, info.context.principal, **fields(input)), "bill"
        )

    @strawberry.mutation(
        description="Start the monthly points calculation for a finished month (headquarters administrators); it runs"
        " in the background: follow it with `node(id:)` or `monthlyAccrualRuns`."
    )
    async def run_monthly_accrual(
        self, info: strawberry.Info, input: RunMonthlyAccrualInput
    ) -> RunMonthlyAccrualPayload:
        async def action(session):
            started = await accrual.start_run(session, info.context.sessions, info.context.principal, input.month)
            info.context.services.jobs.start(accrual.carry_out(info.context.sessions, started))
            return started.run

        return await mutate_legacy(info, RunMonthlyAccrualPayload, action, "run")

    @strawberry.mutation(description="Add an earning, validity or penalty rule (administrators).")
    async def create_points_rule(self, info: strawberry.Info, input: CreatePointsRuleInput) -> PointsRulePayload:
        return await mutate_legacy(
            info, PointsRulePayload, lambda s: rules.create_rule(s, info.context.principal, **fields(input)), "rule"
        )

    @strawberry.mutation(description="Change or retire a points rule; past entries keep their points (administrators).")
    async def update_points_rule(self, info: strawberry.Info, input: UpdatePointsRuleInput) -> PointsRulePayload:
        return await mutate_legacy(
            info,
            PointsRulePayload,
            lambda s: rules.update_rule(s, info.context.principal, **fields(input, "PointsRule")),
            "rule",
        )
