"""What an ended membership leaves behind, however it ended (staff, the annual review, a reviewer's revocation):
its booked redemptions end, saying why, and its points last `ended_points_kept_days` at most."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.points import ledger
from domain.points.tables import PointsBalance
from domain.redemption.tables import AutoRedemption, bookings_ended

BOOKINGS_ENDED_WITH_MEMBERSHIP = "MEMBERSHIP_ENDED"


async def membership_ended(session: AsyncSession, members: list[int] | sa.Select, until: date, now: datetime) -> None:
    """The bookings of `members` (ids, or a query of them) end, then their lots end on `until` at the latest: their
    bookings, balances and lots locked in the order the bookings' monthly run and every movement of points lock
    them, so that an ending never waits for one of those in a cycle."""
    if isinstance(members, list) and not members:
        return
    await session.execute(bookings_ended(AutoRedemption.member_id.in_(members), BOOKINGS_ENDED_WITH_MEMBERSHIP, now))
    # their balances in member order before their lots, as every writer of lots locks them
    await session.execute(
        sa.select(PointsBalance.member_id)
        .where(PointsBalance.member_id.in_(members))
        .order_by(PointsBalance.member_id)
        .with_for_update()
    )
    await ledger.end_points_of_ended(session, members, until)
