"""After a redemption: the billing system's outbox (bill credit, minutes, content) and gifts' pick-ups.

A fulfilment record is written with its redemption (state PENDING); a sender delivers it later, as the
notification outbox's does (`domain/points/warnings.py`): the default one writes to the log, an operator
plugs in the billing system's gateway by naming a class (`LOYALTY_FULFILMENT_SENDER`). A delivery that keeps
failing is marked FAILED after its attempts; an operator retries it. A gift waits READY at its branch until
staff there hand it over.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker

from domain.access import Permission, require_staff
from domain.errors import DomainError, ErrorCode
from domain.members.tables import Member
from domain.organisation.tables import Branch
from domain.redemption.errors import RedemptionErrorCode
from domain.redemption.tables import Fulfilment, FulfilmentState, GiftPickup, PickupState
from domain.work.commands import Command, FulfilmentId, GiftPickupId
from domain.work.unit import UnitOfWork, claimed

log = logging.getLogger(__name__)
deliver_page_max = 500  # pending ids read at a time; each is then claimed and delivered on its own
attempts_max = 5
error_length_max = 500


class FulfilmentSender(Protocol):
    async def send(self, fulfilment: Fulfilment) -> None:
        """Deliver one fulfilment to the billing system; raise to have it tried again later.

        The fulfilment's id is the idempotency key: the billing system must apply a fulfilment once per id. A
        delivery is recorded as soon as this returns, but a run stopped (or a process killed) while it waits
        leaves that one fulfilment PENDING, and the next run sends it again with the same id."""


class LogFulfilmentSender:
    """Writes each delivery to the log: the default until the billing system's gateway is configured."""

    async def send(self, fulfilment: Fulfilment) -> None:
        log.info("fulfilment %s: %s × %s of item %s to account %s", fulfilment.id, fulfilment.quantity,
                 fulfilment.kind.value, fulfilment.item_id, fulfilment.account_id)  # fmt: skip


def load_fulfilment_sender(spec: str) -> FulfilmentSender:
    """'log', or 'package.module:ClassName' of a class whose instances have `async send(fulfilment)`."""
    if spec == "log":
        return LogFulfilmentSender()
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)()


async def deliver_pending(sessions: async_sessionmaker, sender: FulfilmentSender) -> tuple[int, int]:
    """Deliver what is pending, once each in id order, one fulfilment per transaction: its row claimed (locked
    SKIP LOCKED, so that runs side by side never send the same one, and a cancellation waits for one send at
    most), sent, and marked DELIVERED as soon as the sender returns, or tried again by a later run and FAILED
    after its attempts. A run stopped midway leaves every fulfilment it sent recorded, but the one in flight:
    that stays PENDING and is sent again, with the same id, by the next run. (delivered, failed)"""
    delivered = failed = 0
    after = 0  # the last id read: a fulfilment that failed is tried again by the next run, not by this one
    while True:
        async with UnitOfWork(sessions) as uow:
            page = (
                await uow.session.scalars(
                    sa.select(Fulfilment.id)
                    .where(Fulfilment.state == FulfilmentState.PENDING, Fulfilment.id > after)
                    .order_by(Fulfilment.id)
                    .limit(deliver_page_max)
                )
            ).all()
        for fulfilment_id in page:
            state = await _deliver_one(sessions, sender, fulfilment_id)
            delivered += state == FulfilmentState.DELIVERED
            failed += state == FulfilmentState.FAILED
        if len(page) < deliver_page_max:
            return delivered, failed
        after = page[-1]


async def _deliver_one(
    sessions: async_sessionmaker, sender: FulfilmentSender, fulfilment_id: int
) -> FulfilmentState | None:
    """Claim, send and record one fulfilment, in a transaction that commits as soon as the sender returns; its
    state after, or None when it is no longer pending or another run (or a cancellation) holds it."""
    pending = Fulfilment.state == FulfilmentState.PENDING
    async with claimed(sessions, Fulfilment, fulfilment_id, pending) as (uow, fulfilment):
        if fulfilment is None:
            return None
        try:
            await sender.send(fulfilment)
        except Exception as error:  # a gateway failure of any kind: try again later, give up after a limit
            log.warning("delivering fulfilment %s failed: %s", fulfilment.id, type(error).__name__)
            fulfilment.attempts += 1
            fulfilment.last_error = f"{type(error).__name__}: {error}"[:error_length_max]
            if fulfilment.attempts >= attempts_max:
                fulfilment.state = FulfilmentState.FAILED
            fulfilment.updated_at = uow.now
            return fulfilment.state
        fulfilment.state, fulfilment.delivered_at, fulfilment.updated_at = (
            FulfilmentState.DELIVERED, uow.now, uow.now
        )  # fmt: skip
        return fulfilment.state


@dataclass(frozen=True, kw_only=True)
class RetryFulfilment(Command):
    id: FulfilmentId | None


async def retry_fulfilment(uow: UnitOfWork, command: RetryFulfilment) -> Fulfilment:
    """A FAILED delivery is PENDING again, with its attempts counted from zero (its last error kept)."""
    actor = require_staff(uow.principal, Permission.REDEMPTION_CATALOGUE)
    found = await uow.session.get(Fulfilment, command.id, with_for_update=True) if command.id is not None else None
    path = await uow.session.scalar(
        sa.select(Branch.path).join(Member, Member.branch_id == Branch.id).where(Member.id == found.member_id)
    ) if found else None  # fmt: skip
    if found is None or not actor.covers(path):
        raise DomainError(ErrorCode.NOT_FOUND, "No such fulfilment in your scope.", "id")
    if found.state != FulfilmentState.FAILED:
        raise DomainError(RedemptionErrorCode.FULFILMENT_NOT_FAILED, f"The delivery is {found.state}.", "id")
    found.state, found.attempts, found.updated_at = FulfilmentState.PENDING, 0, uow.now
    await uow.session.flush()
    return found


@dataclass(frozen=True, kw_only=True)
class HandOverGift(Command):
    id: GiftPickupId | None


async def hand_over_gift(uow: UnitOfWork, command: HandOverGift) -> GiftPickup:
    """Staff of the branch (or above it) give a waiting gift to its member: who, and when."""
    actor = require_staff(uow.principal, Permission.REDEMPTION_SERVE)
    pickup = await uow.session.get(GiftPickup, command.id, with_for_update=True) if command.id is not None else None
    path = await uow.session.scalar(sa.select(Branch.path).where(Branch.id == pickup.branch_id)) if pickup else None
    if pickup is None or not actor.covers(path):
        raise DomainError(ErrorCode.NOT_FOUND, "No such pick-up in your scope.", "id")
    if pickup.state != PickupState.READY:
        raise DomainError(RedemptionErrorCode.PICKUP_NOT_READY, f"The gift is {pickup.state}.", "id")
    pickup.state, pickup.staff_id, pickup.handed_over_at = PickupState.HANDED_OVER, actor.staff_id, uow.now
    await uow.session.flush()
    return pickup
