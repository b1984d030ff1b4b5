"""After a redemption: the billing system's outbox (bill credit, minutes, content) and gifts' pick-ups.

A fulfilment record is written with its redemption (state PENDING); a sender delivers it later, as the
notification outbox's does (`domain/points/warnings.py`): the default one writes to the log, an operator
plugs in the billing system's gateway by naming a class (`LOYALTY_FULFILMENT_SENDER`). A delivery that keeps
failing is marked FAILED after its attempts; an operator retries it. A delivery sent and not answered (the
gateway raised, or the sender was stopped while it waited) may have been applied: it stays in doubt, and its
redemption is not cancelled, until it is delivered or an operator settles it with the billing system. A gift
waits READY at its branch until staff there hand it over.
"""

from __future__ import annotations

import importlib
import logging
import re
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import async_sessionmaker

from domain.access import Permission, StaffPrincipal, require_staff
from domain.errors import DomainError, ErrorCode
from domain.members.tables import Member
from domain.organisation.tables import Branch
from domain.redemption.errors import RedemptionErrorCode
from domain.redemption.tables import (
    Fulfilment,
    FulfilmentDoubt,
    FulfilmentSettlement,
    FulfilmentState,
    GiftPickup,
    PickupState,
    SettlementOutcome,
)
from domain.validation import Checker
from domain.work.commands import Command, FulfilmentId, GiftPickupId
from domain.work.unit import UnitOfWork, claimed

log = logging.getLogger(__name__)
deliver_page_max = 500  # pending ids read at a time; each is then claimed and delivered on its own
attempts_max = 5
error_length_max = 500
reference_length_max = 100  # the billing system's reference for what an operator found there
ONE_LINE = re.compile(r"[^\r\n\t]+")


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


async def in_doubt(sessions: async_sessionmaker) -> int:
    """How many deliveries the billing system may have applied unanswered: to retry, or to settle."""
    async with sessions() as session:
        return await session.scalar(sa.select(sa.func.count()).select_from(FulfilmentDoubt))


async def _deliver_one(
    sessions: async_sessionmaker, sender: FulfilmentSender, fulfilment_id: int
) -> FulfilmentState | None:
    """Claim, send and record one fulfilment, in a transaction that commits as soon as the sender returns; its
    state after, or None when it is no longer pending or another run (or a cancellation) holds it."""
    pending = Fulfilment.state == FulfilmentState.PENDING
    async with claimed(sessions, Fulfilment, fulfilment_id, pending) as (uow, fulfilment):
        if fulfilment is None:
            return None
        await _mark_in_doubt(sessions, fulfilment.id)
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
        await uow.session.execute(sa.delete(FulfilmentDoubt).where(FulfilmentDoubt.fulfilment_id == fulfilment.id))
        return fulfilment.state


async def _mark_in_doubt(sessions: async_sessionmaker, fulfilment_id: int) -> None:
    """Record, before a send and on a connection of its own, that the billing system may apply the delivery
    from now on: committed whatever becomes of the sender's transaction (which holds the fulfilment's row, so
    the mark is a row of its own), so that a sender stopped or killed while the gateway holds it leaves it in
    doubt, since its last send."""
    marked = insert(FulfilmentDoubt).values(fulfilment_id=fulfilment_id)
    async with sessions() as session, session.begin():
        await session.execute(
            marked.on_conflict_do_update(index_elements=["fulfilment_id"], set_={"since": sa.func.now()})
        )


@dataclass(frozen=True, kw_only=True)
class RetryFulfilment(Command):
    id: FulfilmentId | None


async def retry_fulfilment(uow: UnitOfWork, command: RetryFulfilment) -> Fulfilment:
    """A FAILED delivery is PENDING again, with its attempts counted from zero (its last error, and its doubt,
    kept)."""
    actor = require_staff(uow.principal, Permission.REDEMPTION_CATALOGUE)
    found = await _locked_in_scope(uow, actor, command.id)
    if found.state != FulfilmentState.FAILED:
        raise DomainError(RedemptionErrorCode.FULFILMENT_NOT_FAILED, f"The delivery is {found.state}.", "id")
    found.state, found.attempts, found.updated_at = FulfilmentState.PENDING, 0, uow.now
    await uow.session.flush()
    return found


@dataclass(frozen=True, kw_only=True)
class SettleFulfilment(Command):
    id: FulfilmentId | None
    outcome: SettlementOutcome
    reference: str


async def settle_fulfilment(uow: UnitOfWork, command: SettleFulfilment) -> Fulfilment:
    """An operator who asked the billing system about a delivery in doubt records its answer and reference:
    APPLIED, and it is DELIVERED; NOT_APPLIED, and it is FAILED without doubt (sent no more until retried; its
    redemption may be cancelled). NOT_APPLIED is taken of a FAILED delivery only: a PENDING one may be sent again
    by a run between the billing system's answer and this. A delivery under way is waited for."""
    actor = require_staff(uow.principal, Permission.REDEMPTION_CATALOGUE)
    check = Checker()
    reference = check.pattern("reference", command.reference, ONE_LINE, "reference on one line",
                              length_max=reference_length_max, required=True)  # fmt: skip
    check.raise_if_any()
    found = await _locked_in_scope(uow, actor, command.id)
    unmarked = await uow.session.scalar(
        sa.delete(FulfilmentDoubt).where(FulfilmentDoubt.fulfilment_id == found.id).returning(sa.true())
    )
    if not unmarked or found.state not in (FulfilmentState.PENDING, FulfilmentState.FAILED):
        raise DomainError(
            RedemptionErrorCode.FULFILMENT_NOT_IN_DOUBT, f"The delivery is {found.state} and not in doubt.", "id"
        )
    if command.outcome == SettlementOutcome.NOT_APPLIED and found.state != FulfilmentState.FAILED:
        raise DomainError(RedemptionErrorCode.FULFILMENT_NOT_FAILED, "The delivery is still being sent: a run may"
                          " send it again. Settle it NOT_APPLIED once it has FAILED.", "id")  # fmt: skip
    if command.outcome == SettlementOutcome.APPLIED:
        found.state, found.delivered_at = FulfilmentState.DELIVERED, uow.now
    found.updated_at = uow.now
    uow.session.add(FulfilmentSettlement(fulfilment_id=found.id, outcome=command.outcome, reference=reference,
                                         staff_id=actor.staff_id, settled_at=uow.now))  # fmt: skip
    await uow.session.flush()
    return found


async def _locked_in_scope(uow: UnitOfWork, actor: StaffPrincipal, fulfilment_id: int | None) -> Fulfilment:
    """The fulfilment, locked (after a delivery under way), of a member of the actor's subtree; else NOT_FOUND."""
    found = (
        await uow.session.execute(
            sa.select(Fulfilment, Branch.path)
            .join(Member, Member.id == Fulfilment.member_id)
            .join(Branch, Branch.id == Member.branch_id)
            .where(Fulfilment.id == fulfilment_id)
            .with_for_update(of=Fulfilment)
        )
    ).first() if fulfilment_id is not None else None  # fmt: skip
    if found is None or not actor.covers(found.path):
        raise DomainError(ErrorCode.NOT_FOUND, "No such fulfilment in your scope.", "id")
    return found.Fulfilment


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
