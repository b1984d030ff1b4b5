"""The DataLoaders of grades: one per (entity, key)."""

from __future__ import annotations

from domain.access import Principal
from domain.grades import changes, review, rules
from domain.grades.tables import CustomerImportanceChange, GradeChange, GradeRule, GradeRuleChange
from domain.paging import by_key, grouped_by
from resolvers.area import Fetch


def loaders(principal: Principal) -> dict[str, Fetch]:
    return {
        "grade_rules": by_key(GradeRule),
        "grade_rules_scoped": lambda s, ids: rules.get_rules_scoped(s, principal, ids),
        "grade_rule_changes": grouped_by(GradeRuleChange, "rule_id"),
        "grade_proposals_scoped": lambda s, ids: review.get_proposals_scoped(s, principal, ids),
        "grade_history": grouped_by(GradeChange, "member_id", descending=True, most=changes.history_listed_max),
        "importance_changes": grouped_by(CustomerImportanceChange, "customer_id"),
    }
