"""Spending points [R2]: a quote, a redemption on any channel, and its cancellation.

A redemption is one statement (`redeem_points`, migration 0013), as a points adjustment is: the key's claim,
the member's scope, the balance's lock, every check (all the independent problems answered together), the
points drawn from the soonest-expiring lots, the lines at their prices, the gifts out of the stock and the
billing system's outbox. A card shown at a POS or terminal is checked first, with its PIN, in the unit's
transaction (a wrong PIN is recorded), and the statement then runs inside it. A quote runs the same checks
and writes nothing; a cancellation gives the points back to exactly the lots they came from.

Who redeems through which channel:

| caller | channels | the member |
| --- | --- | --- |
| the member | WEB, WAP, SMS | themselves |
| staff who serve members | COUNTER, HOTLINE | a member of their subtree |
| staff who serve members | POS, TERMINAL | the holder of the card and PIN shown, from anywhere |
| partners | PARTNER | (with the partner integration) |
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from domain.access import (
    MemberPrincipal,
    PartnerPrincipal,
    Permission,
    Principal,
    StaffPrincipal,
    require_authenticated,
    require_staff,
)
from domain.cards.common import CardPolicy
from domain.cards.errors import CardErrorCode
from domain.cards.lifecycle import CardSecret, present_card
from domain.columns import records_of, returned_by
from domain.errors import AccessDenied, DomainError, ErrorCode, Problem, RecordedRefusal, code_named
from domain.members.states import MemberOperation, rules_for
from domain.redemption.errors import RedemptionErrorCode
from domain.redemption.tables import Redemption, RedemptionChannel
from domain.validation import Checker, note_length_max
from domain.work import driver
from domain.work.commands import Command, Idempotent, MemberId, OutletId, RedemptionId, RewardItemId
from domain.work.idempotency import claims_its_key, made_already
from domain.work.unit import UnitOfWork, refusals_raised

items_max = 20  # rewards in one redemption
quantity_max = 100  # of one reward in one redemption
cancellations_listed_max = 20  # of one redemption, its last
settlements_listed_max = 20  # of one delivery, its last
figures_max = 1_000_000_000  # points of a redemption, fen or minutes of a line (read as an `Int`; redemption_check)
SELF_SERVICE = frozenset({RedemptionChannel.WEB, RedemptionChannel.WAP, RedemptionChannel.SMS})
SERVED = frozenset({RedemptionChannel.COUNTER, RedemptionChannel.HOTLINE})
CARD_SHOWN = frozenset({RedemptionChannel.POS, RedemptionChannel.TERMINAL})
# What the card shown, or the account showing it, refuses once a PIN was sent (a locked card and a throttled
# account compare none): a retry of a redemption made is answered with it all the same (`made_already`); a
# request without a PIN is no retry.
_CARD_REFUSALS = frozenset({
    ErrorCode.LOCKED, ErrorCode.INVALID_CREDENTIALS, CardErrorCode.CARD_PIN_LOCKED, CardErrorCode.CARD_LOST,
    CardErrorCode.CARD_NOT_ACTIVE, CardErrorCode.CARD_ENDED, CardErrorCode.CARD_EXPIRED,
})  # fmt: skip
ELSEWHERE = {
    RedemptionChannel.PARTNER: "Partners redeem through the partner integration, which is not open yet.",
    RedemptionChannel.BOOKING: "Booked redemptions are made by their monthly run.",
}


@dataclass(frozen=True)
class RedemptionPolicy:
    """The settings of redemption: how many days a redemption may be cancelled in."""

    cancellation_days: int = 7


@dataclass(frozen=True, kw_only=True)
class ItemQuantity:
    item_id: RewardItemId | None
    quantity: int


class _CardShown(CardSecret):
    """A redemption (or its quote) at a POS or terminal checks the PIN of the card shown."""

    channel: Any

    def hashes(self) -> bool:
        return self.channel in CARD_SHOWN


@dataclass(frozen=True, kw_only=True)
class QuoteRedemption(_CardShown, Command):
    items: list[ItemQuantity]
    channel: RedemptionChannel
    member_id: MemberId | None = None
    outlet_id: OutletId | None = None
    card_number: str | None = None
    card_pin: str | None = None


@dataclass(frozen=True, kw_only=True)
class RedeemPoints(_CardShown, Idempotent):
    items: list[ItemQuantity]
    channel: RedemptionChannel
    member_id: MemberId | None = None
    outlet_id: OutletId | None = None
    card_number: str | None = None
    card_pin: str | None = None
    expected_points: int | None = None  # what the member agreed to pay (a quote's `points`); refused otherwise
    unrecorded: ClassVar[frozenset[str]] = frozenset({"card_pin"})

    def authorize(self, principal: Principal) -> None:
        _require_redeemer(principal)


def _require_redeemer(principal: Principal) -> MemberPrincipal | StaffPrincipal:
    """Members for themselves, staff who serve members; partner keys not yet (the partner integration)."""
    require_authenticated(principal)
    if isinstance(principal, MemberPrincipal):
        return principal
    if isinstance(principal, PartnerPrincipal):
        raise AccessDenied(ErrorCode.FORBIDDEN, "Partners redeem through the partner integration, not open yet.")
    return require_staff(principal, Permission.REDEMPTION_SERVE)


@dataclass(frozen=True)
class Where:
    """Who the redemption is for and how it is made, as the statement takes it."""

    member_id: int
    staff: StaffPrincipal | None
    scoped: bool  # staff act inside their subtree; a card and PIN prove the member anywhere
    card_number: int | None
    lines: list[dict[str, int]]


def _lines(check: Checker, items: list[ItemQuantity]) -> list[dict[str, int]]:
    """The rewards asked for, by item, each with its place in the request (for the field of a problem)."""
    if not items:
        check.fail("items", ErrorCode.REQUIRED, "items must name at least one reward.")
        return []
    if len(items) > items_max:
        check.fail("items", ErrorCode.OUT_OF_RANGE, f"items holds at most {items_max} rewards.")
        return []
    lines, seen = [], set()
    for position, asked in enumerate(items):
        field = f"items.{position}"
        if asked.item_id is None:
            check.fail(f"{field}.item_id", ErrorCode.NOT_FOUND, "No such reward.")
        elif asked.item_id in seen:
            check.fail(f"{field}.item_id", ErrorCode.INVALID, "A reward appears twice: give its quantity once.")
        quantity = check.integer(f"{field}.quantity", asked.quantity, minimum=1, maximum=quantity_max)
        if asked.item_id is not None and quantity is not None:
            seen.add(asked.item_id)
            lines.append({"item_id": asked.item_id, "quantity": quantity, "position": position})
    return lines


async def _where(uow: UnitOfWork, command: QuoteRedemption | RedeemPoints, expected_points: int | None = None) -> Where:
    """The member and the channel's rules, checked with the points the member agreed to (a redemption's); a card
    shown is checked with its PIN (in the unit's transaction, where a wrong PIN is recorded)."""
    caller = _require_redeemer(uow.principal)
    check = Checker()
    lines = _lines(check, command.items)
    check.integer("expected_points", expected_points, minimum=0, maximum=figures_max)
    channel = RedemptionChannel(command.channel)
    if channel in ELSEWHERE:
        check.fail("channel", RedemptionErrorCode.CHANNEL_NOT_ALLOWED, ELSEWHERE[channel])
    elif isinstance(caller, MemberPrincipal):
        _member_channel(check, caller, command, channel)
    else:
        _staff_channel(check, command, channel)
    check.raise_if_any()
    if isinstance(caller, MemberPrincipal):
        return Where(caller.member_id, None, False, None, lines)
    if channel in CARD_SHOWN:
        member = await present_card(uow.session, uow.policy(CardPolicy), caller, card_number=command.card_number,
                                    pin=command.card_pin)  # fmt: skip
        if command.member_id is not None and command.member_id != member.id:
            raise DomainError(ErrorCode.NOT_FOUND, "The card shown is not this member's.", "member_id")
        return Where(member.id, caller, False, int(command.card_number or 0), lines)
    assert command.member_id is not None
    return Where(command.member_id, caller, True, None, lines)


def _member_channel(check: Checker, member: MemberPrincipal, command: Any, channel: RedemptionChannel) -> None:
    if channel not in SELF_SERVICE:
        check.fail("channel", RedemptionErrorCode.CHANNEL_NOT_ALLOWED, "Members redeem through WEB, WAP or SMS.")
    if command.member_id is not None and command.member_id != member.member_id:
        check.fail("member_id", ErrorCode.NOT_FOUND, "No such member in your scope.")
    for field in ("outlet_id", "card_number", "card_pin"):
        if getattr(command, field) is not None:
            check.fail(field, ErrorCode.INVALID, f"{field} is for staff serving a member at an outlet.")


def _staff_channel(check: Checker, command: Any, channel: RedemptionChannel) -> None:
    if channel in SELF_SERVICE:
        check.fail("channel", RedemptionErrorCode.CHANNEL_NOT_ALLOWED, f"{channel.value} is the member's own channel.")
    elif channel in CARD_SHOWN:
        if command.outlet_id is None:
            check.fail("outlet_id", ErrorCode.REQUIRED, f"A {channel.value} redemption is made at an outlet.")
        if command.card_number is None:
            check.fail("card_number", ErrorCode.REQUIRED, f"At a {channel.value} the member shows their card.")
    else:
        if command.member_id is None:
            check.fail("member_id", ErrorCode.REQUIRED, "Name the member you serve.")
        for field in ("card_number", "card_pin"):
            if getattr(command, field) is not None:
                check.fail(field, ErrorCode.INVALID, f"{field} is shown at a POS or terminal.")


def _staff_params(where: Where) -> dict[str, Any]:
    staff = where.staff
    return {
        "member_id": where.member_id,
        "staff_branch_id": staff.branch_id if staff else None,
        "staff_branch_path": staff.branch_path if staff else None,
        "scoped": where.scoped,
        "lines": where.lines,
    }


REDEEM = returned_by(
    Redemption,
    "redeem_points(:scope, :key, :digest, :member_id, :staff_id, :staff_branch_id, :staff_branch_path, :scoped,"
    " :channel, :outlet_id, :card_number, :lines, :today, :states)",
    replayed=True,
    lines=JSONB,
    states=JSONB,
)


@claims_its_key
async def redeem_points(uow: UnitOfWork, command: RedeemPoints) -> Redemption:
    """Redeem points for rewards [R2]; every independent problem is answered at once. A retry of a redemption
    made answers it, whatever has become of the card shown or the account since (a wrong PIN is still counted)."""
    try:
        where = await _where(uow, command, command.expected_points)
    except DomainError as refused:
        if refused.code not in _CARD_REFUSALS:
            raise
        if not isinstance(refused, RecordedRefusal):  # what the check wrote (a right PIN's) goes with its refusal
            await uow.undo_writes()
        if (made := await made_already(uow, Redemption)) is None:
            raise
        return made
    expected = command.expected_points
    if expected is not None:
        uow.in_transaction()  # so that a price changed since the quote undoes the redemption
    try:
        rows = await uow.statement(REDEEM, **uow.claim.params(), **_staff_params(where),
                                   staff_id=where.staff.staff_id if where.staff else None,
                                   channel=RedemptionChannel(command.channel).value, outlet_id=command.outlet_id,
                                   card_number=where.card_number, today=uow.today,
                                   states=rules_for(MemberOperation.SPEND))  # fmt: skip
    except DomainError as refused:
        raise DomainError.of(_as_sent(refused.problems, command)) from None
    made = records_of(Redemption, rows)[0]
    if expected is not None and made.points != expected:
        raise DomainError(RedemptionErrorCode.PRICE_CHANGED, f"The rewards cost {made.points} points now, not"
                          f" {expected}: quote again.", "expected_points")  # fmt: skip
    return made


def _as_sent(problems: list[Problem], command: QuoteRedemption | RedeemPoints) -> list[Problem]:
    """The problems of the member redeemed for, on `member_id` when the caller named the member (staff); a
    member redeeming for themselves sent no `member_id`: their membership's problems name no field."""
    if command.member_id is not None:
        return problems
    return [dataclasses.replace(p, field=None) if p.field == "member_id" else p for p in problems]


@dataclass(frozen=True)
class QuotedLine:
    item_id: int
    quantity: int
    unit_points: int
    points: int


@dataclass(frozen=True)
class QuotedLot:
    expires_on: date
    points: int


@dataclass(frozen=True)
class Quote:
    """What a redemption would do: its points, the balance before and after, the lots it would draw on, and
    every problem that would refuse it (none: it would succeed)."""

    problems: list[Any]
    points: int
    available: int
    lines: list[QuotedLine]
    lots: list[QuotedLot]
    cross_branch: bool

    @property
    def available_after(self) -> int:
        return self.available - self.points


QUOTE = sa.text(
    "SELECT quote_redemption(:member_id, :staff_branch_id, :staff_branch_path, :scoped, :outlet_id, :lines, :today,"
    " :states) AS quote"
).bindparams(sa.bindparam("lines", type_=JSONB), sa.bindparam("states", type_=JSONB))


async def quote_redemption(uow: UnitOfWork, command: QuoteRedemption) -> Quote:
    """The checks of a redemption, and what it would draw, without writing anything (a wrong PIN aside: it is
    counted, so that quotes cannot guess a card's PIN)."""
    where = await _where(uow, command)
    with refusals_raised():
        if uow.sessions is not None and not where.card_number:
            rows = await driver.rows(uow.sessions.kw["bind"], QUOTE, _quote_params(uow, command, where))
        else:
            rows = (await uow.session.execute(QUOTE, _quote_params(uow, command, where))).all()
    found = rows[0].quote
    problems = _as_sent([Problem(code_named(p["code"]), p["message"], p["field"]) for p in found["problems"]], command)
    lines = [QuotedLine(int(line["item_id"]), line["quantity"], line["unit_points"], line["points"])
             for line in found["lines"]]  # fmt: skip
    lots = [QuotedLot(date.fromisoformat(lot["expires_on"]), lot["points"]) for lot in found["lots"]]
    return Quote(problems, int(found["total"]), int(found["available"]), lines, lots, bool(found["cross_branch"]))


def _quote_params(uow: UnitOfWork, command: QuoteRedemption, where: Where) -> dict[str, Any]:
    return _staff_params(where) | {
        "outlet_id": command.outlet_id,
        "today": uow.today,
        "states": rules_for(MemberOperation.SPEND),
    }


# --- cancellation ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CancelRedemption(Idempotent):
    """The whole redemption (no items), or some of the quantity of some of its rewards."""

    redemption_id: RedemptionId | None
    reason: str
    items: list[ItemQuantity] | None = None

    def authorize(self, principal: Principal) -> None:
        _require_redeemer(principal)


CANCEL = returned_by(
    Redemption,
    "cancel_redemption(:scope, :key, :digest, :redemption_id, :member_id, :staff_id, :staff_branch_path, :items,"
    " :reason, :today, :window_days)",
    replayed=True,
    items=JSONB(none_as_null=True),  # no items: everything left of the redemption
)


@claims_its_key
async def cancel_redemption(uow: UnitOfWork, command: CancelRedemption) -> Redemption:
    """Cancel a redemption within the window, before a gift is handed over or a delivery made: the points
    return to the lots they came from (a lot expired meanwhile passes its share on to breakage), gifts to
    the stock. A redemption is cancelled at most once in all: the quantities never exceed what was redeemed."""
    caller = _require_redeemer(uow.principal)
    check = Checker()
    reason = check.text("reason", command.reason, length_max=note_length_max, required=True)
    items = _lines(check, command.items) if command.items is not None else None
    check.raise_if_any()
    if command.redemption_id is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such redemption in your scope.", "redemption_id")
    staff = caller if isinstance(caller, StaffPrincipal) else None
    rows = await uow.statement(CANCEL, **uow.claim.params(), redemption_id=command.redemption_id,
                               member_id=caller.member_id if isinstance(caller, MemberPrincipal) else None,
                               staff_id=staff.staff_id if staff else None,
                               staff_branch_path=staff.branch_path if staff else None, items=items, reason=reason,
                               today=uow.today,
                               window_days=uow.policy(RedemptionPolicy).cancellation_days)  # fmt: skip
    return records_of(Redemption, rows)[0]
