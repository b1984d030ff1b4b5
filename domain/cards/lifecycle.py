"""A member's card [K4][K5]: apply, hand over, report lost, unfreeze, reissue, replace, cancel, PINs.

Staff acting for a caller (counter, hotline) must see proof of identity: the ID document
number, the card PIN, or a subscriber number with the member's password. Failed proofs and
PINs are recorded and counted; too many lock the card for a while, and a staff account that entered
them for too many cards proves none for a while (`refuse_if_account_throttled`). A card shown at a POS or
terminal is proved by `present_card`; partners will prove cards through it too, with the same throttle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from domain import clock, passwords
from domain.access import (
    MemberPrincipal,
    Permission,
    Principal,
    StaffPrincipal,
    require_authenticated,
    require_member,
    require_staff,
)
from domain.cards.common import CardPolicy, event
from domain.cards.common import card_number as parse_card_number
from domain.cards.common import pin as pin_rule
from domain.cards.errors import CardErrorCode
from domain.cards.tables import (
    ENDED_STATES,
    STOCK_STATES,
    USABLE_STATES,
    ApplicationStatus,
    Card,
    CardAction,
    CardApplication,
    CardEvent,
    CardState,
    Channel,
    StaffProofFailure,
)
from domain.columns import records_of, returned_by, same_code
from domain.customers.tables import Customer, SubscriberNumber
from domain.errors import DomainError, ErrorCode, Problem, RecordedRefusal
from domain.members import states
from domain.members.service import member_in_scope
from domain.members.states import MemberOperation
from domain.members.tables import Grade, Member
from domain.organisation.tables import Branch, Staff
from domain.validation import Checker, document_number, note_length_max, text_length_max
from domain.work.commands import CardApplicationId, Command, Idempotent, MemberId
from domain.work.idempotency import claims_its_key, in_transaction
from domain.work.unit import UnitOfWork

pickup_days_max = 90


class ReplaceReason(StrEnum):
    DAMAGED = "DAMAGED"
    GRADE_CHANGE = "GRADE_CHANGE"


class CardSecret:
    """A command that checks or sets the PIN of the card it names (or proves its member): it waits for a hashing
    turn, behind the other requests of that card (`Command.hashes`, `Command.queue`)."""

    card_number: Any

    def hashes(self) -> bool:
        return True

    def queue(self) -> str | None:
        return f"card:{self.card_number}"


@dataclass(frozen=True)
class Proof:
    """One way for a caller to prove who they are, checked against the card's member."""

    id_document_number: str | None = None
    card_pin: str | None = None
    subscriber_number: str | None = None
    password: str | None = None


@dataclass(frozen=True, kw_only=True)
class ApplyForCard(Command):
    member_id: MemberId | None = None  # staff name the member; a member applies for themselves
    pickup_at: datetime | None = None
    pickup_place: str | None = None


@dataclass(frozen=True, kw_only=True)
class ApproveCardApplication(Command):
    id: CardApplicationId | None


@dataclass(frozen=True, kw_only=True)
class HandOverCard(CardSecret, Command):
    member_id: MemberId | None
    card_number: str
    receiver_id_number: str
    receiver_phone: str
    pin: str


@dataclass(frozen=True, kw_only=True)
class UnfreezeCard(CardSecret, Command):
    card_number: str
    proof: Proof | None = None  # required when staff act for a caller
    channel: Channel | None = None

    def hashes(self) -> bool:
        return self.proof is not None  # a PIN or password proved for the caller


@dataclass(frozen=True, kw_only=True)
class ReportCardLost(UnfreezeCard, Idempotent):
    key_required: ClassVar[bool] = False  # a retry without a key finds the card LOST already
    unrecorded: ClassVar[frozenset[str]] = frozenset({"proof"})  # a PIN or password: never in a digest

    def authorize(self, principal: Principal) -> None:
        _actor(principal, self.channel)


@dataclass(frozen=True, kw_only=True)
class ReissueCard(Command):
    old_card_number: str
    new_card_number: str


@dataclass(frozen=True, kw_only=True)
class ReplaceCard(ReissueCard):
    reason: ReplaceReason


@dataclass(frozen=True, kw_only=True)
class CancelCard(Command):
    card_number: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class ChangeCardPin(CardSecret, Command):
    card_number: str
    old_pin: str
    new_pin: str


@dataclass(frozen=True, kw_only=True)
class ResetCardPin(CardSecret, Command):
    card_number: str
    id_document_number: str
    new_pin: str


@dataclass(frozen=True)
class Actor:
    """Who acts on a card, through which channel."""

    principal: MemberPrincipal | StaffPrincipal
    channel: Channel

    @property
    def staff_id(self) -> int | None:
        return self.principal.staff_id if isinstance(self.principal, StaffPrincipal) else None


def _actor(principal: Principal, channel: str | None) -> Actor:
    require_authenticated(principal)
    if isinstance(principal, MemberPrincipal):
        return Actor(
            principal, Channel(channel) if channel in (Channel.SELF_SERVICE, Channel.WAP) else Channel.SELF_SERVICE
        )
    staff = require_staff(principal, Permission.CARD_SERVICE)
    return Actor(staff, Channel(channel) if channel in (Channel.COUNTER, Channel.HOTLINE) else Channel.COUNTER)


def _counter(principal: Principal) -> Actor:
    """Card service staff at the counter."""
    return Actor(require_staff(principal, Permission.CARD_SERVICE), Channel.COUNTER)


async def _card(session: AsyncSession, actor: Actor, number: Any, field: str = "card_number") -> Card:
    """The card, locked, when the actor may act on it: the member's own, or in the staff's subtree."""
    check = Checker()
    parsed = parse_card_number(check, field, number)
    check.raise_if_any()
    # Lock the card on its own: a join would be re-checked against the old branch row after a wait.
    card = await session.get(Card, parsed, with_for_update=True, populate_existing=True)
    path = await session.scalar(sa.select(Branch.path).where(Branch.id == card.branch_id)) if card else None
    principal = actor.principal
    visible = card is not None and (
        card.member_id == principal.member_id if isinstance(principal, MemberPrincipal) else principal.covers(path)
    )
    if not visible:
        raise DomainError(ErrorCode.NOT_FOUND, "No such card in your scope.", field)
    return card


def _require_state(card: Card, states: tuple[CardState, ...], field: str = "card_number") -> None:
    if card.state not in states:
        allowed = " or ".join(s.value for s in states)
        raise DomainError(
            _state_refusal(card.state, states), f"The card is {card.state.value}; it must be {allowed}.", field
        )


def _state_refusal(state: CardState, wanted: tuple[CardState, ...]) -> CardErrorCode:
    """The code that names why a card in `state` cannot be used where `wanted` states are."""
    if state == CardState.LOST:
        return CardErrorCode.CARD_LOST
    if state in ENDED_STATES:
        return CardErrorCode.CARD_ENDED
    if wanted == (CardState.LOST,):
        return CardErrorCode.CARD_NOT_LOST
    if set(wanted) <= set(STOCK_STATES):
        return CardErrorCode.CARD_NOT_IN_STOCK
    return CardErrorCode.CARD_NOT_ACTIVE


# --- failed attempts ------------------------------------------------------------------------


def locked(card: Card) -> bool:
    """Too many wrong PINs or proofs lately: the card refuses them until the lock ends."""
    return card.locked_until is not None and card.locked_until > clock.now()


def _fail_attempt(
    session: AsyncSession, card: Card, actor: Actor, policy: CardPolicy, what: str, field: str
) -> RecordedRefusal:
    """Count a wrong PIN or proof, lock the card after too many, and record it; the caller raises."""
    card.failed_attempt_count += 1
    locked = card.failed_attempt_count >= policy.failures_max
    if locked:
        card.failed_attempt_count = 0
        card.locked_until = clock.now() + timedelta(seconds=policy.lock_seconds)
    session.add(
        event(card, CardAction.PROOF_FAILED, card.state, branch_id=card.branch_id, staff_id=actor.staff_id,
              channel=actor.channel, check=what, locked=locked or None)
    )  # fmt: skip
    if locked:
        return RecordedRefusal(
            CardErrorCode.CARD_PIN_LOCKED, "Too many failed attempts: the card is locked for a while.", field
        )
    return RecordedRefusal(ErrorCode.INVALID_CREDENTIALS, f"The {what} does not match.", field)


async def _refuse_if_locked_against(session: AsyncSession, card: Card, what: str) -> None:
    """Refuse a check of `what` (`_fail_attempt`'s word for it) while the card is locked. A lock holds against an
    ID document only when wrong ID documents set it: one that wrong PINs set (a thief can) never keeps the member
    who shows their document from stopping the card, or from a new PIN."""
    if locked(card) and (what != _ID_DOCUMENT or await _last_lock_by(session, card) == _ID_DOCUMENT):
        _refuse_if_locked(card)


def _refuse_if_locked(card: Card) -> None:
    if locked(card):
        raise DomainError(
            CardErrorCode.CARD_PIN_LOCKED,
            f"Too many failed attempts; try after {card.locked_until:%H:%M} UTC.",
            "card_number",
        )


async def _check_pin(
    session: AsyncSession, card: Card, actor: Actor, policy: CardPolicy, value: Any, field: str
) -> None:
    pin = value if isinstance(value, str) else ""
    if locked(card) and actor.staff_id is not None:
        # A throttled account learns nothing of a card, locked or not, from the answer or its time.
        await passwords.verify_secret(pin, None)
        await refuse_if_account_throttled(session, actor.staff_id, policy, field, card.number)
    _refuse_if_locked(card)
    matches, _ = await passwords.verify_secret(pin, card.pin_hash)
    await _judge(session, card, actor, policy, matches, "PIN", field)
    card.failed_attempt_count = 0


async def _judge(
    session: AsyncSession, card: Card, actor: Actor, policy: CardPolicy, matches: bool, what: str, field: str
) -> None:
    """A PIN or proof checked: refused when staff enter it from an account that is throttled, right or wrong
    (so that such an account learns nothing from it), else counted when wrong, on the card and against the
    account. A right one after wrong ones (the member mistyped) forgives the account its failure on the card."""
    if actor.staff_id is not None:
        failed_before = await refuse_if_account_throttled(session, actor.staff_id, policy, field, card.number)
        if not matches:
            await _account_failed(session, actor.staff_id, card.number, policy)
        elif failed_before:
            await session.execute(_ACCOUNT_FORGIVEN, {"staff": actor.staff_id, "card": card.number})
    if not matches:
        raise _fail_attempt(session, card, actor, policy, what, field)


async def _check_proof(
    session: AsyncSession, card: Card, actor: Actor, policy: CardPolicy, proof: Proof | None
) -> str | None:
    """Members prove themselves by logging in; staff must show one proof from the caller."""
    if isinstance(actor.principal, MemberPrincipal):
        return None
    proof = _one_complete_proof(proof)
    await _refuse_if_locked_against(session, card, "proof" if proof.id_document_number is None else _ID_DOCUMENT)
    if proof.card_pin is not None:
        await _check_pin(session, card, actor, policy, proof.card_pin, "proof.card_pin")
        return "CARD_PIN"
    if proof.id_document_number is not None:
        matches = await _shows_id_document(session, card, proof.id_document_number)
        await _judge(session, card, actor, policy, matches, _ID_DOCUMENT, "proof.id_document_number")
        return "ID_DOCUMENT"
    member = await session.get(Member, card.member_id)
    line = await session.get(SubscriberNumber, str(proof.subscriber_number)[:20])
    matches, _ = await passwords.verify_secret(proof.password or "", member.password_hash)
    matches = matches and line is not None and line.customer_id == member.customer_id
    await _judge(session, card, actor, policy, matches, "subscriber number or password", "proof.subscriber_number")
    return "SUBSCRIBER_PASSWORD"


_PROOFS = {"card_pin": "card PIN", "id_document_number": "ID document number",
           "subscriber_number": "subscriber number and password"}  # fmt: skip


def _one_complete_proof(proof: Proof | None) -> Proof:
    """`proof` when it holds exactly one complete proof. Anything else is an input error, refused before any
    check, so it never counts toward the card's lock."""
    given = {k: v for k, v in vars(proof or Proof()).items() if not (v is None or isinstance(v, str) and not v.strip())}
    ways = {"id_document_number", "card_pin"} & given.keys()
    if given.keys() & {"subscriber_number", "password"}:
        ways.add("subscriber_number")
        for part in ("subscriber_number", "password"):
            if part not in given:
                raise DomainError(
                    ErrorCode.REQUIRED, "A subscriber number is proved with the member's password: give both.",
                    f"proof.{part}",
                )  # fmt: skip
    if not ways:
        raise DomainError(
            ErrorCode.REQUIRED, "Give one proof: ID document number, card PIN, or subscriber number and password.",
            "proof",
        )  # fmt: skip
    if len(ways) > 1:
        named = ", ".join(_PROOFS[w] for w in sorted(ways))
        raise DomainError(ErrorCode.INVALID, f"Give exactly one proof, not {len(ways)}: {named}.", "proof")
    return Proof(**{name: given.get(name) for name in vars(Proof())})  # blanks are not given


_ID_DOCUMENT = "ID document number"


async def _last_lock_by(session: AsyncSession, card: Card) -> str | None:
    """What the failed check that last locked the card was (`_fail_attempt`'s `what`)."""
    return await session.scalar(
        sa.select(CardEvent.detail["check"].astext)
        .where(CardEvent.card_number == card.number, CardEvent.action == CardAction.PROOF_FAILED,
               CardEvent.detail["locked"].astext == "true")
        .order_by(CardEvent.id.desc())
        .limit(1)
    )  # fmt: skip


async def _shows_id_document(session: AsyncSession, card: Card, given: str) -> bool:
    """Whether `given` is the ID document number of the card's member (as kept: `document_number`)."""
    document = await session.scalar(
        sa.select(Customer.id_document_number)
        .join(Member, Member.customer_id == Customer.id)
        .where(Member.id == card.member_id)
    )
    return document is not None and document_number(given) == document_number(document)


# --- applications and hand-over ----------------------------------------------------------------


async def _member_for(session: AsyncSession, actor: Actor, member_id: int | None) -> Member:
    """The member a card is for, in a state that may hold a card: a member acts for themselves alone, and
    another member named is not found, as staff of another branch find no member of it."""
    if isinstance(actor.principal, MemberPrincipal):
        if member_id is not None and member_id != actor.principal.member_id:
            raise DomainError(ErrorCode.NOT_FOUND, "No such member in your scope.", "member_id")
        member = await session.get(Member, actor.principal.member_id, with_for_update=True)
        assert member is not None
    else:
        member = await member_in_scope(session, actor.principal, member_id, "member_id")
    states.require(member.status, MemberOperation.CARD)
    return member


async def apply_for_card(uow: UnitOfWork, command: ApplyForCard) -> CardApplication:
    """A member, or staff for them, asks for a card and may book a pick-up time and place."""
    session, principal = uow.session, uow.principal
    member_id, pickup_at, pickup_place = command.member_id, command.pickup_at, command.pickup_place
    actor = _actor(principal, None)
    check = Checker()
    pickup_place = check.text("pickup_place", pickup_place, length_max=text_length_max)
    if pickup_at is not None and not clock.now() < pickup_at <= clock.now() + timedelta(days=pickup_days_max):
        check.fail("pickup_at", ErrorCode.OUT_OF_RANGE, f"pickup_at must be within the next {pickup_days_max} days.")
    check.raise_if_any()
    member = await _member_for(session, actor, member_id)
    await _refuse_if_holding(session, member)
    if await session.scalar(
        sa.select(CardApplication.id).where(
            CardApplication.member_id == member.id, CardApplication.status != ApplicationStatus.FULFILLED
        )
    ):
        raise DomainError(CardErrorCode.CARD_APPLICATION_OPEN, "The member has an open card application.", "member_id")
    application = CardApplication(
        member_id=member.id,
        status=ApplicationStatus.REQUESTED,
        pickup_at=pickup_at,
        pickup_place=pickup_place,
        requested_by_staff_id=actor.staff_id,
    )
    session.add(application)
    await session.flush()
    return application


async def approve_application(uow: UnitOfWork, command: ApproveCardApplication) -> CardApplication:
    session, principal, id = uow.session, uow.principal, command.id
    staff = require_staff(principal, Permission.CARD_SERVICE)
    application = await session.get(CardApplication, id, with_for_update=True) if id is not None else None
    missing = DomainError(ErrorCode.NOT_FOUND, "No such application in your scope.", "id")
    if application is None:
        raise missing
    try:
        member = await member_in_scope(session, staff, application.member_id, "id")
    except DomainError:  # another branch's: refused as if it did not exist
        raise missing from None
    states.require(member.status, MemberOperation.CARD, "id")
    if application.status != ApplicationStatus.REQUESTED:
        raise DomainError(
            CardErrorCode.CARD_APPLICATION_DECIDED, f"The application is {application.status.value}.", "id"
        )
    application.status = ApplicationStatus.APPROVED
    application.approved_by_staff_id = staff.staff_id
    await session.flush()
    return application


async def _refuse_if_holding(session: AsyncSession, member: Member) -> None:
    """A member holds at most one usable card [K5]."""
    if await session.scalar(sa.select(Card.number).where(Card.member_id == member.id, Card.state.in_(USABLE_STATES))):
        raise DomainError(CardErrorCode.MEMBER_HOLDS_CARD, "The member holds a usable card already.", "member_id")


async def _grade_card_type(session: AsyncSession, member: Member) -> str:
    grade = await session.get(Grade, member.grade_code)
    assert grade is not None
    return grade.card_type


async def _stock_card_for(session: AsyncSession, actor: Actor, member: Member, number: Any, field: str) -> Card:
    """A stock card in the staff's subtree, of the type the member's grade entitles them to [K5]."""
    card = await _card(session, actor, number, field)
    _require_state(card, STOCK_STATES, field)
    card_type = await _grade_card_type(session, member)
    if card.card_type != card_type:
        raise DomainError(
            CardErrorCode.CARD_TYPE_NOT_OF_GRADE, f"A {member.grade_code} member gets a {card_type} card.", field
        )
    _require_valid(card, field)
    return card


def _require_valid(card: Card, field: str) -> None:
    """A card is valid until the end of its validity date (inclusive, the club's day)."""
    if card.valid_until < clock.today():
        raise DomainError(
            CardErrorCode.CARD_EXPIRED, f"This card was valid until {card.valid_until}: the counter replaces it.", field
        )


async def _give(session: AsyncSession, card: Card, member: Member, actor: Actor, action: CardAction, **detail: Any):
    before, branch_before = card.state, card.branch_id
    card.state, card.member_id, card.branch_id = CardState.ACTIVE, member.id, member.branch_id
    card.holder_club_id = card.holder_staff_id = None
    card.updated_at = clock.now()
    session.add(
        event(card, action, before, branch_id=branch_before, staff_id=actor.staff_id, channel=actor.channel, **detail)
    )


async def hand_over(uow: UnitOfWork, command: HandOverCard) -> Card:
    """Staff give a stock card to a member, who sets the PIN; the card is ACTIVE [K4]."""
    session, principal, member_id, card_number = uow.session, uow.principal, command.member_id, command.card_number
    receiver_id_number, receiver_phone, pin = command.receiver_id_number, command.receiver_phone, command.pin
    actor = _counter(principal)
    check = Checker()
    receiver_id_number = check.document("receiver_id_number", receiver_id_number)
    receiver_phone = check.phone("receiver_phone", receiver_phone, required=True)
    new_pin = pin_rule(check, "pin", pin)
    check.raise_if_any()
    member = await _member_for(session, actor, member_id)
    await _refuse_if_holding(session, member)
    card = await _stock_card_for(session, actor, member, card_number, "card_number")
    card.pin_hash = await passwords.hash_secret(new_pin)
    await _give(session, card, member, actor, CardAction.HAND_OVER, receiver_id_number=receiver_id_number,
                receiver_phone=receiver_phone)  # fmt: skip
    application = (
        await session.scalars(
            sa.select(CardApplication)
            .where(CardApplication.member_id == member.id, CardApplication.status != ApplicationStatus.FULFILLED)
            .with_for_update()
        )
    ).first()
    if application is not None:
        application.status, application.card_number = ApplicationStatus.FULFILLED, card.number
    await session.flush()
    return card


# --- loss, unfreeze, reissue, replace, cancel --------------------------------------------------


@claims_its_key
async def report_lost(uow: UnitOfWork, command: ReportCardLost) -> Card:
    """The card is LOST at once: it cannot authenticate or redeem until unfrozen [K4]."""
    return await _prove_and_move(uow, command, CardState.ACTIVE, CardAction.REPORT_LOST, CardState.LOST)


async def unfreeze(uow: UnitOfWork, command: UnfreezeCard) -> Card:
    """A lost card works again once the caller proves who they are [K4]."""
    return await _prove_and_move(uow, command, CardState.LOST, CardAction.UNFREEZE, CardState.ACTIVE)


MOVE_OWN_CARD = returned_by(
    Card,
    "move_own_card(:scope, :key, :digest, :card_number, :member_id, :state, :to, :action, :channel, :refusals, :now)",
    replayed=True,
    refusals=JSONB,
)


async def _prove_and_move(
    uow: UnitOfWork, command: UnfreezeCard, state: CardState, action: CardAction, to: CardState
) -> Card:
    """A member's own card moves in one statement (their login is their proof); staff check the caller's
    proof first, in the unit's transaction."""
    actor = _actor(uow.principal, command.channel)
    if not isinstance(actor.principal, MemberPrincipal):
        return await in_transaction(uow, lambda: _prove_then_move(uow, actor, command, state, action, to), Card)
    check = Checker()
    number = parse_card_number(check, "card_number", command.card_number)
    check.raise_if_any()
    refusals = {found.value: _state_refusal(found, (state,)).value for found in CardState if found != state}
    moved = dict(card_number=number, member_id=actor.principal.member_id, state=state.value, to=to.value,
                 action=action.value, channel=actor.channel.value, refusals=refusals, now=uow.now)  # fmt: skip
    rows = await uow.statement(MOVE_OWN_CARD, **uow.claim.params(), **moved)
    return records_of(Card, rows)[0]


async def _prove_then_move(
    uow: UnitOfWork, actor: Actor, command: UnfreezeCard, state: CardState, action: CardAction, to: CardState
) -> Card:
    card = await _card(uow.session, actor, command.card_number)
    _require_state(card, (state,))
    how = await _check_proof(uow.session, card, actor, uow.policy(CardPolicy), command.proof)
    await _transition(uow.session, card, actor, action, to, proof=how)
    return card


async def _transition(
    session: AsyncSession,
    card: Card,
    actor: Actor,
    action: CardAction,
    to: CardState,
    reason: str | None = None,
    **detail,
) -> None:
    before = card.state
    card.state, card.updated_at = to, clock.now()
    session.add(event(card, action, before, branch_id=card.branch_id, staff_id=actor.staff_id, channel=actor.channel,
                      reason=reason, **detail))  # fmt: skip
    await session.flush()


async def _swap(
    uow: UnitOfWork, command: ReissueCard, *, action: CardAction, old_states: tuple[CardState, ...], reason: str,
    grade_changed: bool = False,
) -> Card:  # fmt: skip
    """A new card from stock takes the old one's place; the old is retired for good. For a change of grade,
    the old card must be of another grade's type than the member's (checked once the caller may see it)."""
    session = uow.session
    actor = _counter(uow.principal)
    old = await _card(session, actor, command.old_card_number, "old_card_number")
    _require_state(old, old_states, "old_card_number")
    member = await session.get(Member, old.member_id, with_for_update=True)
    assert member is not None
    if grade_changed and old.card_type == await _grade_card_type(session, member):
        raise DomainError(CardErrorCode.CARD_ALREADY_OF_GRADE, "The card already matches the member's grade.", "reason")
    new = await _stock_card_for(session, actor, member, command.new_card_number, "new_card_number")
    await _transition(session, old, actor, action, CardState.RETIRED, reason, replaced_by=str(new.number))
    old.replaced_by_number, new.replaces_number, new.pin_hash = new.number, old.number, old.pin_hash
    # the PIN goes to the new card with its lock and its count of failures: a new card lifts no lock
    new.failed_attempt_count, new.locked_until = old.failed_attempt_count, old.locked_until
    await _give(session, new, member, actor, action, replaces=str(old.number))
    await session.flush()
    return new


async def reissue(uow: UnitOfWork, command: ReissueCard) -> Card:
    """A lost card is replaced; points and history stay with the member [K4]."""
    return await _swap(uow, command, action=CardAction.REISSUE, old_states=(CardState.LOST,), reason="LOST")


async def replace(uow: UnitOfWork, command: ReplaceCard) -> Card:
    """A damaged card, or one of a former grade's type, is replaced [K4][K5]. Only an active one: a lost card is
    reissued (`reissue`), which records the loss as the reason; replaced, it would pass for one in hand."""
    why = ReplaceReason(command.reason)
    return await _swap(uow, command, action=CardAction.REPLACE, old_states=(CardState.ACTIVE,), reason=why.value,
                       grade_changed=why == ReplaceReason.GRADE_CHANGE)  # fmt: skip


async def cancel(uow: UnitOfWork, command: CancelCard) -> Card:
    """The card ends for good, e.g. after the member left the network [K4]."""
    session = uow.session
    actor = _counter(uow.principal)
    check = Checker()
    reason = check.text("reason", command.reason, length_max=note_length_max, required=True)
    check.raise_if_any()
    card = await _card(session, actor, command.card_number)
    _require_state(card, USABLE_STATES)
    await _transition(session, card, actor, CardAction.CANCEL, CardState.CANCELLED, reason)
    return card


# --- PINs --------------------------------------------------------------------------------------


async def change_pin(uow: UnitOfWork, command: ChangeCardPin) -> Card:
    """The member changes the PIN of their own card, proving the old one."""
    session, policy = uow.session, uow.policy(CardPolicy)
    actor = Actor(require_member(uow.principal), Channel.SELF_SERVICE)
    check = Checker()
    new_pin = pin_rule(check, "new_pin", command.new_pin)
    check.raise_if_any()
    card = await _card(session, actor, command.card_number)
    _require_state(card, (CardState.ACTIVE,))
    await _check_pin(session, card, actor, policy, command.old_pin, "old_pin")
    card.pin_hash = await passwords.hash_secret(new_pin)
    await _transition(session, card, actor, CardAction.CHANGE_PIN, card.state)
    return card


async def reset_pin(uow: UnitOfWork, command: ResetCardPin) -> Card:
    """Staff set a new PIN after checking the member's ID document; this also lifts a PIN lock."""
    session, policy = uow.session, uow.policy(CardPolicy)
    actor = _counter(uow.principal)
    check = Checker()
    new_pin = pin_rule(check, "new_pin", command.new_pin)
    id_document_number = check.document("id_document_number", command.id_document_number)
    check.raise_if_any()
    card = await _card(session, actor, command.card_number)
    _require_state(card, USABLE_STATES)
    await _refuse_if_locked_against(session, card, _ID_DOCUMENT)  # a lock that wrong PINs set is what a reset lifts
    matches = await _shows_id_document(session, card, id_document_number)
    await _judge(session, card, actor, policy, matches, _ID_DOCUMENT, "id_document_number")
    card.pin_hash = await passwords.hash_secret(new_pin)
    card.failed_attempt_count, card.locked_until = 0, None
    await _transition(session, card, actor, CardAction.RESET_PIN, card.state)
    return card


# One answer for a card that does not exist, cannot be used, or was given the wrong PIN: nobody learns from it
# which card numbers exist.
_CARD_OR_PIN_WRONG = Problem(ErrorCode.INVALID_CREDENTIALS, "The card number or the PIN is wrong.")


# The cards one staff account entered wrong PINs or proofs for in the last lock period (and the numbers it
# showed that hold no card), a row each, and when it is let in again: when the newest `:cards_max` of them
# have aged out.
_ACCOUNT_FAILURES = sa.text(
    """WITH cards AS (SELECT card_number, occurred_at FROM staff_proof_failure
                      WHERE staff_id = :staff AND occurred_at > now() - make_interval(secs => :window))
       SELECT count(*), (SELECT occurred_at FROM cards ORDER BY occurred_at DESC OFFSET :cards_max - 1 LIMIT 1),
              coalesce(bool_or(card_number = :card), false)
       FROM cards"""
)
# A wrong PIN or proof of a card from an account: the card's row of the account, as of now; the account's
# rows of other cards that have aged out go (so an account holds at most the cards of one lock period).
_ACCOUNT_FAILED = sa.text(
    """WITH aged AS (DELETE FROM staff_proof_failure
                     WHERE (staff_id, card_number) IN (  -- rows another request holds are left to the next
                         SELECT staff_id, card_number FROM staff_proof_failure
                         WHERE staff_id = :staff AND card_number <> :card
                           AND occurred_at <= now() - make_interval(secs => :window)
                         FOR UPDATE SKIP LOCKED))
       INSERT INTO staff_proof_failure (staff_id, card_number) VALUES (:staff, :card)
       ON CONFLICT (staff_id, card_number) DO UPDATE SET occurred_at = now()"""
)


async def _account_failed(session: AsyncSession, staff_id: int, card_number: int, policy: CardPolicy) -> None:
    await session.execute(_ACCOUNT_FAILED, {"staff": staff_id, "card": card_number, "window": policy.lock_seconds})


_ACCOUNT_FORGIVEN = sa.text("DELETE FROM staff_proof_failure WHERE staff_id = :staff AND card_number = :card")


async def refuse_if_account_throttled(
    session: AsyncSession, staff_id: int, policy: CardPolicy, field: str, card_number: int
) -> bool:
    """A staff account that entered wrong PINs or proofs for `presenter_cards_max` cards in the last lock period
    (or showed numbers that hold no card) proves no card until fewer are: any card may be shown at any outlet
    (grades that roam redeem anywhere), and no account may lock the country's cards one after another. A
    member mistyping their own PIN again and again counts once, and not at all once they get it right.
    Checked once the PIN or proof is known right or wrong, so that the answer tells nothing of it, and a
    refusal writes nothing: waiting is enough. Whether the account's failures hold `card_number`."""
    params = {"staff": staff_id, "window": policy.lock_seconds, "cards_max": policy.presenter_cards_max,
              "card": card_number}  # fmt: skip
    cards, oldest_kept, holds_card = (await session.execute(_ACCOUNT_FAILURES, params)).one()
    if cards >= policy.presenter_cards_max:
        until = oldest_kept + timedelta(seconds=policy.lock_seconds, microseconds=-1) + timedelta(minutes=1)
        raise DomainError(
            ErrorCode.LOCKED,
            f"Wrong PINs or proofs were entered for too many cards from this account; it proves cards again at"
            f" {until:%H:%M} UTC.",
            field,
        )
    return holds_card


@dataclass(frozen=True)
class Forgiven:
    username: str  # as the account holds it
    cards: int  # the cards of the lock period whose wrong proofs the account was forgiven
    staff_id: int
    branch_id: int


async def forgive_account(session: AsyncSession, policy: CardPolicy, username: str) -> Forgiven:
    """An operator's clear (`loyalty clear-proof-throttle`): the account proves cards again at once, its wrong
    PINs and proofs forgotten (the cards keep their own counts and locks)."""
    staff = await session.scalar(sa.select(Staff).where(same_code(Staff.username, username or "")))
    if staff is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such staff account.", "staff")
    counted = StaffProofFailure.occurred_at > sa.func.now() - timedelta(seconds=policy.lock_seconds)
    forgotten = await session.scalars(
        sa.delete(StaffProofFailure).where(StaffProofFailure.staff_id == staff.id).returning(counted)
    )
    return Forgiven(staff.username, sum(forgotten), staff.id, staff.branch_id)


async def present_card(
    session: AsyncSession, policy: CardPolicy, staff: StaffPrincipal, *, card_number: str | None, pin: str | None
) -> Member:
    """The member a card and its PIN prove, shown by the member at a POS or a terminal that `staff` operates.

    A card that does not exist, holds no member, or is given the wrong PIN gets one answer (a wrong PIN is
    counted toward the card's lock, and recorded: `RecordedRefusal`). Only the PIN's holder learns that the
    card is lost, ended or past its validity; a locked card says so (the fraud measure). An account that entered
    wrong PINs for too many cards lately proves none for a while (`refuse_if_account_throttled`)."""
    check = Checker()
    number = parse_card_number(check, "card_number", card_number)
    if not pin:
        check.fail("card_pin", ErrorCode.REQUIRED, "card_pin is required with a card.")
    check.raise_if_any()
    wrong = DomainError(_CARD_OR_PIN_WRONG.code, _CARD_OR_PIN_WRONG.message, "card_pin")
    card = await session.get(Card, number, with_for_update=True)
    if card is None or card.member_id is None or card.pin_hash is None:
        await passwords.verify_secret(pin, None)  # as long as a PIN check, so that timing tells nothing either
        await refuse_if_account_throttled(session, staff.staff_id, policy, "card_pin", number)
        await _account_failed(session, staff.staff_id, number, policy)  # counted as a wrong PIN is
        raise RecordedRefusal(wrong.code, wrong.problems[0].message, "card_pin")
    try:
        await _check_pin(session, card, Actor(staff, Channel.SYSTEM), policy, pin, "card_pin")
    except RecordedRefusal as refused:
        if refused.code != ErrorCode.INVALID_CREDENTIALS:
            raise
        raise RecordedRefusal(wrong.code, wrong.problems[0].message, "card_pin") from None
    _require_state(card, (CardState.ACTIVE,))
    _require_valid(card, "card_number")
    member = await session.get(Member, card.member_id)
    assert member is not None
    return member
