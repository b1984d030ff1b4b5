"""The DataLoaders of redemption: one per (entity, key)."""

from __future__ import annotations

from domain.access import Principal
from domain.paging import by_key, grouped_by
from domain.redemption import bookings, catalogue, queries
from domain.redemption.redeem import cancellations_listed_max, settlements_listed_max
from domain.redemption.tables import (
    AutoRedemptionExecution,
    ConsumptionRuleChange,
    Fulfilment,
    FulfilmentDoubt,
    FulfilmentSettlement,
    GiftPickup,
    RedemptionCancellation,
    RedemptionLine,
    RewardItem,
)
from resolvers.area import Fetch


def loaders(principal: Principal) -> dict[str, Fetch]:
    return {
        "items": by_key(RewardItem),
        "items_scoped": lambda s, ids: catalogue.get_items_scoped(s, principal, ids),
        "consumption_rule_changes": grouped_by(ConsumptionRuleChange, "rule_id"),
        "redemptions_scoped": lambda s, ids: queries.get_redemptions_scoped(s, principal, ids),
        "lines_by_redemption": grouped_by(RedemptionLine, "redemption_id"),
        "fulfilments_by_redemption": grouped_by(Fulfilment, "redemption_id"),
        "pickups_by_redemption": grouped_by(GiftPickup, "redemption_id"),
        "cancellations_by_redemption": grouped_by(
            RedemptionCancellation, "redemption_id", most=cancellations_listed_max
        ),
        "fulfilment_doubts": by_key(FulfilmentDoubt, "fulfilment_id"),
        "settlements_by_fulfilment": grouped_by(FulfilmentSettlement, "fulfilment_id", most=settlements_listed_max),
        "fulfilments_scoped": lambda s, ids: queries.get_fulfilments_scoped(s, principal, ids),
        "pickups_scoped": lambda s, ids: queries.get_pickups_scoped(s, principal, ids),
        "bookings_scoped": lambda s, ids: bookings.get_bookings_scoped(s, principal, ids),
        "executions_by_booking": grouped_by(
            AutoRedemptionExecution, "booking_id", order="month", descending=True, most=bookings.executions_listed_max
        ),
        "auto_redemption_runs_scoped": lambda s, ids: bookings.runs_by_id(s, principal, ids),
    }
