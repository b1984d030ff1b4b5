"""The DataLoaders of grades: one per (entity, key)."""

from __future__ import annotations

from domain.access import Principal
from domain.grades import changes, definitions, review, rules
from domain.grades.tables import GradeRule
from domain.paging import by_key
from resolvers.area import Fetch


def loaders(principal: Principal) -> dict[str, Fetch]:
    return {
        "grade_rules": by_key(GradeRule),
        "grade_rules_scoped": lambda s, ids: rules.get_rules_scoped(s, principal, ids),
        "grade_rule_changes": rules.rule_changes,
        "grade_proposals_scoped": lambda s, ids: review.get_proposals_scoped(s, principal, ids),
        "grade_history": changes.grade_history,
        "importance_changes": definitions.importance_changes,
    }
