"""What an ended membership leaves behind, however it ended (staff, the annual review, a reviewer's revocation):
its booked redemptions end, saying why, and its points last `ended_points_kept_days` at most."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.points import ledger
from domain.redemption.tables import AutoRedemption, bookings_ended

BOOKINGS_ENDED_WITH_MEMBERSHIP = "MEMBERSHIP_ENDED"


async def membership_ended(session: AsyncSession, members: list[int] | sa.Select, until: date, now: datetime) -> None:
    """The bookings of `members` (ids, or a query of them) end, then their lots end on `until` at the latest: in the
    order the bookings' monthly run locks them, so that an ending and a run never wait for each other in a cycle."""
    if isinstance(members, list) and not members:
        return
    await session.execute(bookings_ended(AutoRedemption.member_id.in_(members), BOOKINGS_ENDED_WITH_MEMBERSHIP, now))
    await ledger.end_points_of_ended(session, members, until)
