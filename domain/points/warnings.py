"""Expiry warnings [P5]: members whose points expire soon are told once per expiry date.

Warnings are written to the `notification` outbox; a sender delivers them later. The default
sender writes to the log; an operator plugs in an SMS or email gateway by naming a class.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker

from domain.points.tables import Notification, NotificationStatus
from domain.work.commands import Command
from domain.work.unit import UnitOfWork

log = logging.getLogger(__name__)
send_batch_max = 500
attempts_max = 5


class Sender(Protocol):
    async def send(self, notification: Notification) -> None:
        """Deliver one message; raise to have it retried later."""


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
    """One warning per member and expiry date for points expiring within `within_days`; returns how many are new."""
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
               GROUP BY l.member_id, l.expires_on, c.phone, c.email
               ON CONFLICT (dedupe_key) DO NOTHING"""
        ),
        {
            "as_of": as_of,
            "until": as_of + timedelta(days=command.within_days),
            "due_at": datetime.combine(as_of, time(9), tzinfo=UTC),
        },  # fmt: skip
    )
    return result.rowcount


async def send_pending(sessions: async_sessionmaker, sender: Sender) -> tuple[int, int]:
    """Deliver due messages in batches; each is marked sent, or retried up to a limit. (sent, failed)"""
    sent = failed = 0
    while True:
        async with UnitOfWork(sessions) as uow:
            batch = (
                await uow.session.scalars(
                    sa.select(Notification)
                    .where(Notification.status == NotificationStatus.PENDING, Notification.due_at <= uow.now)
                    .order_by(Notification.due_at, Notification.id)
                    .limit(send_batch_max)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for notification in batch:
                try:
                    await sender.send(notification)
                except Exception:  # a gateway failure of any kind: retry later, give up after a limit
                    log.exception("sending notification %s failed", notification.id)
                    notification.attempts += 1
                    if notification.attempts >= attempts_max:
                        notification.status = NotificationStatus.FAILED
                        failed += 1
                    continue
                notification.status, notification.sent_at = NotificationStatus.SENT, uow.now
                sent += 1
        if len(batch) < send_batch_max:
            return sent, failed
