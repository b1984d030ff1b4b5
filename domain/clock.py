"""The one source of the current time, so tests can move it, and the club's time zone: every business day
(a redemption's day, the month a limit counts in, the day points expire, "today" in every check) is a day
in the club's zone, whatever the zone of the host or of the database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

zone_default = "Asia/Shanghai"  # the club's provinces keep Beijing time
zone = ZoneInfo(zone_default)


def use_zone(name: str) -> None:
    """Make `name` (an IANA zone, e.g. Asia/Shanghai) the club's zone for this process (the settings' own)."""
    global zone
    zone = ZoneInfo(name)


def now() -> datetime:
    return datetime.now(UTC)


def day_of(moment: datetime) -> date:
    """The club's day at `moment`."""
    return moment.astimezone(zone).date()


def today() -> date:
    return day_of(now())
