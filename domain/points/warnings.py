"""Expiry warnings [P5]: members whose points expire soon are told once per expiry date.

Warnings are written to the `notification` outbox; a sender delivers them later. The default
sender writes to the log; an operator plugs in an SMS or email gateway by naming a class.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker

from domain import clock
from domain.members import states
from domain.points.tables import Notification, NotificationStatus
from domain.work.commands import Command
from domain.work.unit import UnitOfWork, claimed

log = logging.getLogger(__name__)
send_page_max = 500  # due ids read at a time; each is then claimed and sent on its own
attempts_max = 5


class Sender(Protocol):
    async def send(self, notification: Notification) -> None:
        """Deliver one message; raise to have it retried later.

        The notification's id (or its dedupe key, as unique) is the idempotency key: the gateway must deliver a
        message once per key. It is recorded SENT as soon as this returns, but a run stopped (or a process
        killed) while it waits leaves that one message PENDING, and the next run sends it again, same id and
        key."""


class LogSender:
    """Writes each message to the log: the default until a gateway is configured."""

    async def send(self, notification: Notification) -> None:
        log.info("notification %s to member %s by %s: %s", notification.id, notification.member_id,
                 notification.channel.value, notification.message)  # fmt: skip


def load_sender(spec: str) -> Sender:
    """'log', or 'package.module:ClassName' of a class whose instances have `async send(notification)`."""
    if spec == "log":
        return LogSender()
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)()


@dataclass(frozen=True, kw_only=True)
class EnqueueExpiryWarnings(Command):
    as_of: date
    within_days: int


async def enqueue_expiry_warnings(uow: UnitOfWork, command: EnqueueExpiryWarnings) -> int:
    """One warning per member and expiry date for points expiring within `within_days`, to the members who may
    redeem them (ACTIVE, GRACE); returns how many are new."""
    as_of = command.as_of
    result = await uow.session.execute(
        sa.text(
            """INSERT INTO notification (member_id, channel, address, message, dedupe_key, due_at)
               SELECT l.member_id,
                      CASE WHEN c.phone IS NOT NULL THEN 'SMS'
                           WHEN c.email IS NOT NULL THEN 'EMAIL' ELSE 'CALLBACK' END,
                      coalesce(c.phone, c.email),
                      format('%s club points expire on %s. Redeem them before then.', sum(l.remaining), l.expires_on),
                      format('expiry:%s:%s', l.member_id, l.expires_on),
                      :due_at
               FROM points_lot l
               JOIN member m ON m.id = l.member_id
               JOIN customer c ON c.id = m.customer_id
               WHERE l.remaining > 0 AND l.expires_on BETWEEN :as_of AND :until
                 AND m.status::text = ANY(CAST(:spending AS text[]))  -- "redeem them" to those who may
               GROUP BY l.member_id, l.expires_on, c.phone, c.email
               ON CONFLICT (dedupe_key) DO NOTHING"""
        ),
        {
            "as_of": as_of,
            "until": as_of + timedelta(days=command.within_days),
            "due_at": datetime.combine(as_of, time(9), tzinfo=clock.zone),  # 09:00 at the club
            "spending": sorted(states.ALLOWED[states.MemberOperation.SPEND]),
        },  # fmt: skip
    )
    return result.rowcount


async def send_pending(sessions: async_sessionmaker, sender: Sender) -> tuple[int, int]:
    """Send the messages due, once each, soonest due first, one per transaction: its row claimed (locked SKIP
    LOCKED, so that runs side by side never send the same one), sent, and marked SENT as soon as the sender
    returns, or retried by a later run up to a limit. A run stopped midway leaves every message it sent
    recorded, but the one in flight: that stays PENDING and is sent again, with the same id and dedupe key,
    by the next run. (sent, failed)"""
    sent = failed = 0
    due_by = clock.now()  # what falls due while the run goes on waits for the next one
    after: tuple[datetime, int] | None = None  # the last one read: a failure is retried by the next run
    while True:
        due = sa.select(Notification.due_at, Notification.id).where(
            Notification.status == NotificationStatus.PENDING, Notification.due_at <= due_by
        )
        if after is not None:
            due = due.where(sa.tuple_(Notification.due_at, Notification.id) > after)
        async with UnitOfWork(sessions) as uow:
            page = (
                await uow.session.execute(due.order_by(Notification.due_at, Notification.id).limit(send_page_max))
            ).all()
        for _, notification_id in page:
            status = await _send_one(sessions, sender, notification_id)
            sent += status == NotificationStatus.SENT
            failed += status == NotificationStatus.FAILED
        if len(page) < send_page_max:
            return sent, failed
        after = tuple(page[-1])


async def _send_one(sessions: async_sessionmaker, sender: Sender, notification_id: int) -> NotificationStatus | None:
    """Claim, send and record one message, in a transaction that commits as soon as the sender returns; its
    status after, or None when it is no longer pending or another run holds it."""
    pending = Notification.status == NotificationStatus.PENDING
    async with claimed(sessions, Notification, notification_id, pending) as (uow, notification):
        if notification is None:
            return None
        try:
            await sender.send(notification)
        except Exception:  # a gateway failure of any kind: retry later, give up after a limit
            log.exception("sending notification %s failed", notification.id)
            notification.attempts += 1
            if notification.attempts >= attempts_max:
                notification.status = NotificationStatus.FAILED
            return notification.status
        notification.status, notification.sent_at = NotificationStatus.SENT, uow.now
        return notification.status
