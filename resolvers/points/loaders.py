"""The DataLoaders of points: one per (entity, key)."""

from __future__ import annotations

from domain.access import Principal
from domain.paging import grouped_by
from domain.points import accrual, rules
from domain.points import service as points
from domain.points.tables import PointsRuleChange
from resolvers.area import Fetch


def loaders(principal: Principal) -> dict[str, Fetch]:
    return {
        "points": points.summaries,
        "transactions_scoped": lambda s, ids: points.get_transactions_scoped(s, principal, ids),
        "rule_changes": grouped_by(PointsRuleChange, "rule_id"),
        "grade_multipliers": rules.grade_multipliers,
        "accrual_runs_scoped": lambda s, ids: accrual.runs_by_id(s, principal, ids),
    }
