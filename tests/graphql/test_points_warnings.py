"""Expiry warnings through the outbox, and the monthly statement."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from domain import clock
from domain.points import service as points
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


@pytest.mark.parametrize("status", ["SUSPENDED", "ENDED"])
async def test_a_member_who_may_not_redeem_is_not_told_to(api, status):
    # given Li Wei's 1,200 points ending on 2026-12-31, and his membership suspended or ended
    await api.scalar("UPDATE member SET status = :s WHERE id = :m RETURNING 1", s=status, m=api.demo.members["Li Wei"])
    # when the warnings of the window are queued, then he is not told to redeem them
    assert await enqueue(api, date(2026, 11, 23)) == 0


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
    pointsStatement(month: $month) { month opening earned spent closing entryCount entries { entryType points } }
} } }"""


async def test_a_monthly_statement_adds_up(api):
    member = gid("Member", api.demo.members["Li Wei"])
    march = (await api.data(STATEMENT, {"id": member, "month": "2026-03"}, as_="member"))["node"]["pointsStatement"]
    assert march == {"month": "2026-03", "opening": 1200, "earned": 300, "spent": 0, "closing": 1500, "entryCount": 1,
                     "entries": [{"entryType": "BONUS_ACTIVITY", "points": 300}]}  # fmt: skip


async def test_a_month_of_more_entries_than_a_statement_lists_adds_up_all_of_them(api):
    # given Li Wei with 1,001 entries of a point in March 2026 beside his 300, and one of -2
    li = api.demo.members["Li Wei"]
    move = (
        "SELECT count(points_move(:m, :kind, :account, :points, DATE '2026-03-20', 'Many', NULL))"
        " FROM generate_series(1, :n)"
    )
    await api.scalar(move, m=li, kind="BONUS_ACTIVITY", account="ISSUANCE", points=1, n=1_001)
    await api.scalar(move, m=li, kind="ADJUSTMENT", account="ADJUSTMENT", points=-2, n=1)
    # when he reads March's statement
    march = (await api.data(STATEMENT, {"id": gid("Member", li), "month": "2026-03"}, as_="member"))["node"]
    found = march["pointsStatement"]
    # then its figures are the whole month's, and it lists the first 1,000 entries of the 1,003
    assert {k: found[k] for k in ("opening", "earned", "spent", "closing", "entryCount")} == {
        "opening": 1200, "earned": 1_301, "spent": -2, "closing": 2_499, "entryCount": 1_003}  # fmt: skip
    assert len(found["entries"]) == points.statement_entries_max
    assert await api.violations() == []


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


DUE = """INSERT INTO notification (member_id, channel, address, message, dedupe_key, due_at)
         SELECT :member, 'SMS', '13800000001', 'Message ' || n, 'test:' || n, now() - interval '1 hour'
         FROM generate_series(1, :count) n RETURNING 1"""
STATUSES = "SELECT string_agg(status || ' ' || attempts, ',' ORDER BY id) FROM notification"


class Gateway:
    """An SMS gateway: records the ids it was sent; after `sends_max` sends the run is stopped (the task cancelled)
    while it sends, the message in flight sent or not, or it fails."""

    def __init__(self, sends_max: int | None = None, stop: bool = False) -> None:
        self.sent: list[int] = []
        self.sends_max, self.stop = sends_max, stop

    async def send(self, notification) -> None:
        await asyncio.sleep(0)  # the gateway answers over the network: another run may go on meanwhile
        if self.sends_max is not None and len(self.sent) >= self.sends_max:
            if self.stop:
                self.sent.append(notification.id)  # it went out, but the run was stopped before it heard so
                raise asyncio.CancelledError
            raise ConnectionError("gateway down")
        self.sent.append(notification.id)


async def due(api, count: int) -> list[int]:
    await api.scalar(DUE, member=api.demo.members["Li Wei"], count=count)
    return list(range(1, count + 1))


async def test_a_run_stopped_midway_has_recorded_all_it_sent_and_the_next_sends_only_the_rest(api):
    # given 10 messages due, and a run stopped (SIGTERM, Ctrl-C) while the 7th is with the gateway
    ids = await due(api, 10)
    sessions = make_sessions(api.engine)
    stopped = Gateway(sends_max=6, stop=True)
    with pytest.raises(asyncio.CancelledError):
        await warnings.send_pending(sessions, stopped)
    # then the 6 it sent are SENT and the rest still PENDING, untried: the one in flight too
    assert stopped.sent == ids[:7]
    assert await api.scalar(STATUSES) == ",".join(["SENT 0"] * 6 + ["PENDING 0"] * 4)
    # when the run is started again, then it sends the rest: the one in flight again, under its same id
    again = Gateway()
    assert await warnings.send_pending(sessions, again) == (4, 0)
    assert again.sent == ids[6:]


async def test_a_gateway_failing_midway_leaves_what_it_sent_sent_and_the_rest_to_retry(api):
    # given 5 messages due, and a gateway that goes down after 3
    ids = await due(api, 5)
    sessions = make_sessions(api.engine)
    # when a run sends them, then 3 are SENT and the other 2 tried once; the next run sends only those 2
    assert await warnings.send_pending(sessions, Gateway(sends_max=3)) == (3, 0)
    assert await api.scalar(STATUSES) == ",".join(["SENT 0"] * 3 + ["PENDING 1"] * 2)
    again = Gateway()
    assert await warnings.send_pending(sessions, again) == (2, 0)
    assert again.sent == ids[3:]


async def test_two_runs_side_by_side_send_each_message_once(api, monkeypatch):
    # given 30 messages due, more than a page of a run
    monkeypatch.setattr(warnings, "send_page_max", 8)
    ids = await due(api, 30)
    sessions = make_sessions(api.engine)
    gateway = Gateway()
    # when two runs send at the same time, then each message went out once, and is recorded once
    counted = await asyncio.gather(*(warnings.send_pending(sessions, gateway) for _ in range(2)))
    assert sorted(gateway.sent) == ids
    assert sum(sent for sent, _ in counted) == 30 and all(failed == 0 for _, failed in counted)
    assert await api.scalar(STATUSES) == ",".join(["SENT 0"] * 30)
