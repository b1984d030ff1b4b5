"""Expiry warnings through the outbox, and the monthly statement."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from domain import clock
from domain.points import warnings
from domain.points.tables import NotificationStatus
from domain.work.unit import UnitOfWork
from loyalty.database import make_sessions
from tests.api import gid, top_codes


class Recorder:
    def __init__(self, failures: int = 0) -> None:
        self.sent: list[str] = []
        self.failures = failures

    async def send(self, notification) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("gateway down")
        self.sent.append(f"{notification.channel.value}:{notification.address}:{notification.message}")


async def enqueue(api, as_of: date, within_days: int = 40) -> int:
    async with UnitOfWork(make_sessions(api.engine)) as uow:
        command = warnings.EnqueueExpiryWarnings(as_of=as_of, within_days=within_days)
        return await uow.run(warnings.enqueue_expiry_warnings, command)


async def test_members_are_warned_once_per_expiry_date(api):
    # Li Wei's 1,200 points end on 2026-12-31
    assert await enqueue(api, date(2026, 11, 23)) == 1
    assert await enqueue(api, date(2026, 11, 24)) == 0  # the daily run does not warn again
    sender = Recorder()
    assert await warnings.send_pending(make_sessions(api.engine), sender) == (1, 0)
    assert sender.sent == ["SMS:13800000001:1200 club points expire on 2026-12-31. Redeem them before then."]
    assert await warnings.send_pending(make_sessions(api.engine), sender) == (0, 0)


async def test_nothing_is_queued_outside_the_window(api):
    assert await enqueue(api, date(2026, 11, 23), within_days=30) == 0


async def test_a_failing_gateway_is_retried_then_given_up(api, monkeypatch):
    await enqueue(api, date(2026, 11, 23))
    sessions = make_sessions(api.engine)
    assert await warnings.send_pending(sessions, Recorder(failures=1)) == (0, 0)
    assert await warnings.send_pending(sessions, Recorder()) == (1, 0)
    await enqueue(api, date(2027, 12, 1), within_days=60)  # the 300 points of 2027-12-31, due that morning
    monkeypatch.setattr(clock, "now", lambda: datetime(2027, 12, 1, 10, tzinfo=UTC))
    for _ in range(warnings.attempts_max - 1):
        await warnings.send_pending(sessions, Recorder(failures=1))
    assert await warnings.send_pending(sessions, Recorder(failures=1)) == (0, 1)
    async with api.engine.connect() as connection:
        statuses = (await connection.execute(sa.text("SELECT status FROM notification ORDER BY id"))).scalars().all()
    # Li Wei's second warning failed every time; Wang Fang's (her 500 points end that day too) went out
    assert statuses == [NotificationStatus.SENT.value, NotificationStatus.FAILED.value, NotificationStatus.SENT.value]


def test_a_sender_is_named_by_its_class():
    assert isinstance(warnings.load_sender("log"), warnings.LogSender)
    assert isinstance(warnings.load_sender("domain.points.warnings:LogSender"), warnings.LogSender)


STATEMENT = """query($id: ID!, $month: Month!) { node(id: $id) { ... on Member {
    pointsStatement(month: $month) { month opening earned spent closing entries { entryType points } } } } }"""


async def test_a_monthly_statement_adds_up(api):
    member = gid("Member", api.demo.members["Li Wei"])
    march = (await api.data(STATEMENT, {"id": member, "month": "2026-03"}, as_="member"))["node"]["pointsStatement"]
    assert march == {"month": "2026-03", "opening": 1200, "earned": 300, "spent": 0, "closing": 1500,
                     "entries": [{"entryType": "BONUS_ACTIVITY", "points": 300}]}  # fmt: skip


@pytest.mark.parametrize(
    ("who", "month", "code"),
    [
        ("member", "March", "BAD_USER_INPUT"),
        ("member", "2026-3", "BAD_USER_INPUT"),
        ("member", "9999-12", "OUT_OF_RANGE"),
        ("member", "1899-12", "OUT_OF_RANGE"),
        ("other_member", "2026-03", "NOT_FOUND"),
    ],
)
async def test_statement_refusals(api, who, month, code):
    member = gid("Member", api.demo.members["Li Wei"])
    answer = await api.gql(STATEMENT, {"id": member, "month": month}, as_=who)
    if who == "other_member":  # the member node itself is hidden
        assert answer["data"]["node"] is None
    else:
        assert top_codes(answer) == [code]
