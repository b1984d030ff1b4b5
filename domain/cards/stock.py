"""Card stock [K1]–[K3]: receive batches, issue down the hierarchy, transfer, return, void, set state.

Every operation is one set-based statement over the selected cards and all-or-nothing: when a
selected card is missing or not eligible, nothing changes and the offending numbers are listed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access import Permission, StaffPrincipal, require_staff
from domain.cards.common import (
    Selection,
    offenders_looked_up_max,
    parse_selection,
    receive_cards_max,
    shown,
    subtree_ids,
)
from domain.cards.errors import CardErrorCode
from domain.cards.tables import STOCK_STATES, Card, CardAction, CardBatch, CardState
from domain.errors import DomainError, ErrorCode
from domain.members.tables import Grade
from domain.organisation.service import club_in_scope, staff_in_scope
from domain.organisation.tables import Branch, StaffRole
from domain.validation import Checker, name_length_max, note_length_max
from domain.work.commands import ClubId, Command, StaffId
from domain.work.unit import UnitOfWork


@dataclass(frozen=True)
class StockResult:
    count: int
    batch: CardBatch | None = None


@dataclass(frozen=True, kw_only=True)
class SelectsCards(Command):
    """Card numbers by an inclusive range or by a list (see `parse_selection`)."""

    number_from: str | None = None
    number_to: str | None = None
    numbers: list[str] | None = None


@dataclass(frozen=True, kw_only=True)
class ReceiveCardBatch(SelectsCards):
    card_type: str
    valid_until: date
    source: str | None = None


@dataclass(frozen=True, kw_only=True)
class IssueCards(SelectsCards):
    received_by: str
    to_club_id: ClubId | None = None
    to_staff_id: StaffId | None = None
    place: str | None = None


@dataclass(frozen=True, kw_only=True)
class TransferCards(SelectsCards):
    to_club_id: ClubId | None = None
    to_staff_id: StaffId | None = None
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReturnCards(SelectsCards):
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class VoidCards(SelectsCards):
    reason: str


@dataclass(frozen=True, kw_only=True)
class SetCardState(SelectsCards):
    state: CardState
    reason: str


async def receive_batch(uow: UnitOfWork, command: ReceiveCardBatch) -> StockResult:
    """Cards from the card maker or HQ enter the receiving branch's stock as INITIAL [K1]."""
    actor = require_staff(uow.principal, Permission.CARD_STOCK)
    check = Checker()
    selection = parse_selection(check, command, size_max=receive_cards_max)
    source = check.text("source", command.source, length_max=name_length_max)
    if command.valid_until <= uow.today:
        check.fail("valid_until", ErrorCode.OUT_OF_RANGE, "valid_until must be after today.")
    check.raise_if_any()
    session = uow.session
    card_types = set((await session.scalars(sa.select(Grade.card_type))).all())
    if command.card_type not in card_types:
        raise DomainError(ErrorCode.NOT_FOUND, f"No card type {command.card_type}.", "card_type")
    taken_query = sa.select(Card.number).where(selection.where(Card.number)).limit(offenders_looked_up_max)
    taken = (await session.scalars(taken_query)).all()
    if taken:
        raise DomainError(ErrorCode.DUPLICATE, f"Cards already in the system: {shown(sorted(taken))}.", "numbers")
    first, last = (
        (selection.first, selection.last) if selection.first else (min(selection.numbers), max(selection.numbers))
    )
    batch = CardBatch(
        branch_id=actor.branch_id,
        card_type=command.card_type,
        valid_until=command.valid_until,
        card_count=selection.size,
        first_number=first,
        last_number=last,
        source=source,
        staff_id=actor.staff_id,
    )
    session.add(batch)
    await session.flush()
    inserted = await session.execute(
        sa.text(
            f"""INSERT INTO card (number, card_type, state, valid_until, batch_id, branch_id)
                SELECT n, :card_type, 'INITIAL', :valid_until, :batch, :branch FROM {selection.series_sql()} AS n
                ON CONFLICT (number) DO NOTHING"""
        ),
        selection.parameters()
        | {"card_type": command.card_type, "valid_until": command.valid_until, "batch": batch.id,
           "branch": actor.branch_id},
    )  # fmt: skip
    if inserted.rowcount != selection.size:  # a batch of some of the numbers was received meanwhile
        taken = (await session.scalars(taken_query.where(Card.batch_id != batch.id))).all()
        raise DomainError(ErrorCode.DUPLICATE, f"Cards already in the system: {shown(sorted(taken))}.", "numbers")
    return StockResult(count=selection.size, batch=batch)


# --- moving stock -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    action: CardAction
    states: tuple[CardState, ...]  # states a selected card must be in
    own_branch_only: bool  # held by the actor's own branch (else: anywhere in the actor's subtree)
    new_state: CardState | None = None
    new_branch_id: int | None = None
    set_holders: bool = False
    club_id: int | None = None
    staff_id: int | None = None


_MOVE_SQL = """
WITH target AS (
    SELECT number, state, branch_id FROM card
    WHERE {selection} AND branch_id = ANY(CAST(:scope AS bigint[]))
    ORDER BY number FOR UPDATE
), eligible AS (
    SELECT * FROM target WHERE state = ANY(CAST(:states AS text[])) AND branch_id = ANY(CAST(:branches AS bigint[]))
), moved AS (
    UPDATE card c SET
        state = COALESCE(:new_state, c.state),
        branch_id = COALESCE(CAST(:new_branch AS bigint), c.branch_id),
        holder_club_id = CASE WHEN :set_holders THEN CAST(:club AS bigint) ELSE c.holder_club_id END,
        holder_staff_id = CASE WHEN :set_holders THEN CAST(:holder AS bigint) ELSE c.holder_staff_id END,
        updated_at = now()
    FROM eligible e WHERE c.number = e.number
    RETURNING c.number, c.card_type, c.state AS state_after, e.state AS state_before, e.branch_id AS branch_before
), logged AS (
    INSERT INTO card_event (card_number, card_type, action, state_before, state_after, branch_id, staff_id, channel,
                            reason, detail)
    SELECT number, card_type, :action, state_before, state_after, branch_before, :actor, 'COUNTER', :reason,
           CAST(:detail AS jsonb)
    FROM moved
)
SELECT (SELECT count(*) FROM target), (SELECT count(*) FROM moved)
"""


async def _move(
    session: AsyncSession, actor: StaffPrincipal, selection: Selection, move: Move, reason: str | None, detail: dict
) -> StockResult:
    scope = await subtree_ids(session, actor)
    branches = [actor.branch_id] if move.own_branch_only else scope
    found, moved = (
        await session.execute(
            sa.text(_MOVE_SQL.format(selection=selection.sql("number"))),
            selection.parameters()
            | {
                "states": [s.value for s in move.states],
                "branches": branches,
                "scope": scope,
                "new_state": move.new_state.value if move.new_state else None,
                "new_branch": move.new_branch_id,
                "set_holders": move.set_holders,
                "club": move.club_id,
                "holder": move.staff_id,
                "action": move.action.value,
                "actor": actor.staff_id,
                "reason": reason,
                "detail": json.dumps(detail),
            },
        )
    ).one()
    if found != selection.size:
        missing = shown(await _missing(session, selection, scope))
        raise DomainError(ErrorCode.NOT_FOUND, f"No such cards in your scope: {missing}.", "numbers")
    if moved != found:
        refused = await _ineligible(session, selection, move.states, branches)
        raise DomainError(CardErrorCode.CARDS_NOT_MOVABLE, f"Cards that cannot be {_verb(move)}: {refused}.", "numbers")
    return StockResult(count=moved)


def _verb(move: Move) -> str:
    return {"ISSUE": "issued", "TRANSFER": "transferred", "RETURN": "returned", "VOID": "voided"}.get(
        move.action.value, "changed"
    )


async def _missing(session: AsyncSession, selection: Selection, scope: list[int]) -> list[int]:
    held = "SELECT 1 FROM card WHERE number = n AND branch_id = ANY(CAST(:scope AS bigint[]))"
    query = f"SELECT n FROM {selection.series_sql()} AS n WHERE NOT EXISTS ({held}) ORDER BY n LIMIT :limit"
    parameters = selection.parameters() | {"scope": scope, "limit": offenders_looked_up_max}
    return list((await session.execute(sa.text(query), parameters)).scalars())


async def _ineligible(session: AsyncSession, selection: Selection, states: tuple, branches: list[int]) -> str:
    query = (
        sa.select(Card.number, Card.state)
        .where(selection.where(Card.number))
        .where(sa.or_(Card.state.not_in(states), Card.branch_id.not_in(branches)))
        .order_by(Card.number)
        .limit(offenders_looked_up_max)
    )
    rows = (await session.execute(query)).all()
    return shown([n for n, _ in rows]) + f" (e.g. {rows[0][0]} is {rows[0][1]} or held elsewhere)" if rows else "none"


async def _holder(
    session: AsyncSession, actor: StaffPrincipal, club_id: int | None, staff_id: int | None
) -> tuple[int, dict[str, Any]]:
    """The branch and description of the club or customer manager that receives cards."""
    if club_id is None and staff_id is None:
        raise DomainError(ErrorCode.REQUIRED, "Give either a club or a customer manager.", "to_club_id")
    if club_id is not None and staff_id is not None:
        raise DomainError(ErrorCode.INVALID, "Give either a club or a customer manager, not both.", "to_staff_id")
    if club_id is not None:
        club = await club_in_scope(session, actor, club_id, "to_club_id")
        return club.branch_id, {"club": club.code}
    manager = await staff_in_scope(session, actor, staff_id, "to_staff_id", role=StaffRole.CUSTOMER_MANAGER)
    return manager.branch_id, {"customer_manager": manager.username}


def _check(command: SelectsCards, reason: Any, *, reason_required: bool = False):
    check = Checker()
    selection = parse_selection(check, command)
    reason = check.text("reason", reason, length_max=note_length_max, required=reason_required)
    return check, selection, reason


async def issue_cards(uow: UnitOfWork, command: IssueCards) -> StockResult:
    """Cards the actor's branch holds go to a club or customer manager at or below it [K2]."""
    actor = require_staff(uow.principal, Permission.CARD_STOCK)
    check, selection, _ = _check(command, None)
    received_by = check.text("received_by", command.received_by, length_max=name_length_max, required=True)
    place = check.text("place", command.place)
    check.raise_if_any()
    branch_id, holder = await _holder(uow.session, actor, command.to_club_id, command.to_staff_id)
    move = Move(CardAction.ISSUE, STOCK_STATES, True, CardState.ISSUED, branch_id, True, command.to_club_id,
                command.to_staff_id)  # fmt: skip
    return await _move(uow.session, actor, selection, move, None, holder | {"received_by": received_by, "place": place})


async def transfer_cards(uow: UnitOfWork, command: TransferCards) -> StockResult:
    """Issued cards move between clubs and customer managers inside the actor's subtree [K3]."""
    actor = require_staff(uow.principal, Permission.CARD_STOCK)
    check, selection, reason = _check(command, command.reason)
    check.raise_if_any()
    branch_id, holder = await _holder(uow.session, actor, command.to_club_id, command.to_staff_id)
    move = Move(CardAction.TRANSFER, (CardState.ISSUED,), False, None, branch_id, True, command.to_club_id,
                command.to_staff_id)  # fmt: skip
    return await _move(uow.session, actor, selection, move, reason, holder)


async def return_cards(uow: UnitOfWork, command: ReturnCards) -> StockResult:
    """Whole, unused cards the actor's branch holds go back to its parent branch [K3]."""
    actor = require_staff(uow.principal, Permission.CARD_STOCK)
    check, selection, reason = _check(command, command.reason)
    check.raise_if_any()
    branch = await uow.session.get(Branch, actor.branch_id)
    if branch is None or branch.parent_id is None:
        raise DomainError(
            CardErrorCode.NO_PARENT_BRANCH, "Headquarters has no parent branch to return cards to.", "numbers"
        )
    move = Move(CardAction.RETURN, STOCK_STATES, True, CardState.RETURNED, branch.parent_id, True)
    return await _move(uow.session, actor, selection, move, reason, {})


async def void_cards(uow: UnitOfWork, command: VoidCards) -> StockResult:
    """Damaged stock cards are voided for good [K3]."""
    actor = require_staff(uow.principal, Permission.CARD_STOCK)
    check, selection, reason = _check(command, command.reason, reason_required=True)
    check.raise_if_any()
    move = Move(CardAction.VOID, STOCK_STATES, False, CardState.VOID)
    return await _move(uow.session, actor, selection, move, reason, {})


# Corrections among stock states; a member's card changes only through its own operations.
_SETTABLE = {
    CardState.INITIAL: (CardState.RETURNED, CardState.VOID),
    CardState.RETURNED: (CardState.INITIAL, CardState.VOID),
    CardState.VOID: (CardState.INITIAL, CardState.RETURNED),
}


async def set_card_state(uow: UnitOfWork, command: SetCardState) -> StockResult:
    """Correct the stock state of one card or a range, with a reason [K3]."""
    actor = require_staff(uow.principal, Permission.CARD_STOCK)
    check, selection, reason = _check(command, command.reason, reason_required=True)
    target = CardState(command.state)
    if target not in _SETTABLE:
        check.fail("state", ErrorCode.INVALID, "Only INITIAL, RETURNED or VOID can be set directly.")
    check.raise_if_any()
    move = Move(CardAction.SET_STATE, _SETTABLE[target], False, target, set_holders=target != CardState.VOID)
    return await _move(uow.session, actor, selection, move, reason, {})
