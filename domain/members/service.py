"""Members [O5]: joining a club, the member's own profile, and staff maintenance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from domain import passwords
from domain.access import (
    MemberPrincipal,
    Permission,
    Principal,
    StaffPrincipal,
    may_read_member,
    require_member,
    require_staff,
)
from domain.cards.common import event
from domain.cards.tables import USABLE_STATES, Card, CardAction, CardState, Channel
from domain.columns import record_columns, record_type, split_records
from domain.customers.service import (
    PERSONAL_FIELDS,
    ChangePersonalDetails,
    apply_customer_changes,
    check_customer_fields,
    check_manager,
    customer_in_scope,
)
from domain.customers.tables import Account, Customer, SubscriberNumber
from domain.errors import DomainError, ErrorCode
from domain.grades.definitions import active_grade
from domain.grades.review import GradePolicy
from domain.members import states
from domain.members.ending import membership_ended
from domain.members.errors import MemberErrorCode
from domain.members.states import MemberOperation
from domain.members.tables import Grade, Member, MemberStatus, member_number_sequence
from domain.organisation.service import PROVINCE_OF_PATH, club_in_scope, locked_in_scope, scoped_listing, visible
from domain.organisation.tables import Branch, Club
from domain.paging import Listing, Page, PageRequest
from domain.points.bills import next_month, refuse_during_a_run
from domain.points.tables import PointsBalance
from domain.validation import (
    Checker,
    list_length_max,
    name_length_max,
    network_opened_on,
    note_length_max,
    search_terms,
    validity_end,
)
from domain.work import driver
from domain.work.commands import UNCHANGED, BranchId, ClubId, Command, CustomerId, MemberId, StaffId, changes
from domain.work.unit import UnitOfWork

membership_years_default = 1
membership_years_max = 10


class RelationKind(StrEnum):
    FAMILY = "FAMILY"
    WORK = "WORK"
    OTHER = "OTHER"


@dataclass(frozen=True, kw_only=True)
class Relation:
    """Someone the member is related to, as the member or staff give it."""

    kind: RelationKind
    name: str
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class CreateMember(Command):
    customer_id: CustomerId
    club_id: ClubId
    grade_code: str
    joined_on: date | None = None  # today
    valid_until: date | None = None  # the day before the first anniversary
    customer_manager_id: StaffId | None = None
    password: str | None = None  # none: the member cannot log in yet
    interests: list[str] | None = None
    relations: list[Relation] | None = None

    def hashes(self) -> bool:
        return self.password is not None


@dataclass(frozen=True, kw_only=True)
class UpdateMember(Command):
    """Only the fields given change. A null validity is the default one; grades change through reviews."""

    id: MemberId
    club_id: ClubId | None = UNCHANGED
    status: MemberStatus | None = UNCHANGED
    valid_until: date | None = UNCHANGED
    customer_manager_id: StaffId | None = UNCHANGED
    interests: list[str] | None = UNCHANGED
    relations: list[Relation] | None = UNCHANGED


@dataclass(frozen=True, kw_only=True)
class UpdateMyProfile(ChangePersonalDetails):
    """What a member may change about themselves: never number, grade or card."""

    interests: list[str] | None = UNCHANGED
    relations: list[Relation] | None = UNCHANGED


def check_profile(check: Checker, fields: dict[str, Any]) -> dict[str, Any]:
    """Interests and relations, those present in `fields`: the member's personal profile."""
    clean: dict[str, Any] = {}
    if "interests" in fields:
        clean["interests"] = check.texts("interests", fields["interests"] or [], length_max=name_length_max)
    if "relations" in fields:
        relations: list[Relation] = fields["relations"] or []
        if len(relations) > list_length_max:
            check.fail("relations", ErrorCode.OUT_OF_RANGE, f"relations holds at most {list_length_max} items.")
            relations = []
        clean["relations"] = [
            {
                "kind": RelationKind(r.kind).value,
                "name": check.text(f"relations.{n}.name", r.name, length_max=name_length_max, required=True),
                "note": check.text(f"relations.{n}.note", r.note, length_max=note_length_max),
            }
            for n, r in enumerate(relations)
        ]
    return clean


def _check_validity(check: Checker, joined_on: date, valid_until: date | None) -> date:
    """The last day of a membership: as given, or the default's (the day before the anniversary of joining)."""
    if valid_until is None:
        return validity_end(joined_on, 12 * membership_years_default)
    if valid_until < joined_on:
        check.fail("valid_until", ErrorCode.OUT_OF_RANGE, f"valid_until must not be before joining ({joined_on}).")
    elif valid_until > joined_on + timedelta(days=366 * membership_years_max):
        check.fail("valid_until", ErrorCode.OUT_OF_RANGE, f"valid_until must be within {membership_years_max} years.")
    return valid_until


def _check_joining(check: Checker, command: CreateMember, today: date) -> tuple[dict[str, Any], date, date]:
    """(profile, joined on, valid until) of a new member, checked: a membership is never made expired."""
    profile = check_profile(check, changes(command, "interests", "relations"))
    if command.password is not None:
        check.password("password", command.password)
    joined_on = command.joined_on or today
    if joined_on > today + timedelta(days=366) or joined_on < network_opened_on:
        check.fail("joined_on", ErrorCode.OUT_OF_RANGE, "joined_on is too far from today.")
    valid_until = _check_validity(check, joined_on, command.valid_until)
    if valid_until < today and not any(p.field in ("joined_on", "valid_until") for p in check.problems):
        if command.valid_until is None:
            check.fail("joined_on", ErrorCode.OUT_OF_RANGE, f"A membership from {joined_on} would have ended on"
                       f" {valid_until}: give a valid_until from today on, or a later joined_on.")  # fmt: skip
        else:
            check.fail("valid_until", ErrorCode.OUT_OF_RANGE, "valid_until has passed: a new member is valid today.")
    return profile, joined_on, valid_until


async def create_member(uow: UnitOfWork, command: CreateMember) -> Member:
    """The club sets the member number and grade; the member never does. A customer joining a club of another
    province goes there too (one province serves the person)."""
    actor = require_staff(uow.principal, Permission.MEMBER_WRITE)
    check = Checker()
    profile, joined_on, valid_until = _check_joining(check, command, uow.today)
    check.raise_if_any()
    session = uow.session
    customer = await customer_in_scope(session, actor, command.customer_id, "customer_id", lock=True)
    club = await club_in_scope(session, actor, command.club_id, "club_id")
    grade = await active_grade(session, command.grade_code)
    await check_manager(session, actor, command.customer_manager_id, serving=club.branch_id)
    if await session.scalar(sa.select(Member.id).where(Member.customer_id == customer.id)) is not None:
        raise DomainError(MemberErrorCode.CUSTOMER_ALREADY_MEMBER, "This customer is a member already.", "customer_id")
    number = None
    while number is None:  # a number that is some line's is skipped: a login names one person
        number = await session.scalar(_NEXT_MEMBER_NUMBER)
    member = Member(
        member_number=number,
        customer_id=customer.id,
        club_id=club.id,
        branch_id=club.branch_id,
        grade_code=grade.code,
        joined_on=joined_on,
        valid_until=valid_until,
        customer_manager_id=command.customer_manager_id,
        password_hash=await passwords.hash_secret(command.password) if command.password else None,
        **profile,
    )
    session.add(member)
    await session.flush()
    # The member's points account opens with the membership (its other columns as the table makes them).
    await session.execute(sa.insert(PointsBalance).values(member_id=member.id))
    await session.execute(_CUSTOMER_ALONG, {"customer": customer.id, "branch": club.branch_id, "now": uow.now})
    if joined_on < uow.today.replace(day=1):  # joined in a month whose bills a run may have passed over
        await _let_passed_over_bills_go(session, customer.id, joined_on.replace(day=1), uow.today.replace(day=1))
    return member


async def _let_passed_over_bills_go(session: AsyncSession, customer_id: int, since: date, before: date) -> None:
    """The bills of the months since a member joined that a run passed over, the customer no member then (a
    member who joins on a past day), let go so that each month's next run earns them: refused while a run of
    one of the months is under way (it may be passing them over now), and none starts before this commits."""
    months = [since]
    while (month := next_month(months[-1])) < before:
        months.append(month)
    await refuse_during_a_run(session, months, "joined_on")
    await session.execute(_PASSED_OVER, {"customer": customer_id, "since": since})


_PASSED_OVER = sa.text(
    """DELETE FROM accrual x USING bill b, account a
       WHERE x.bill_id = b.id AND a.id = b.account_id AND a.customer_id = :customer AND x.member_id IS NULL
         AND b.billing_month >= :since"""
)


# A member and their customer are of one province, so that one province's staff serve the person: a member who
# joins or moves to a club of another province takes the customer along. A branch's province is the start of its
# path: "/1/4/" of "/1/4/9/"; headquarters ("/1/") is a province of its own here. The customer's manager stays
# only if they see the customer at its new branch (of it or above it, as `check_manager` asks); else none.
def _province(branch: str) -> str:
    return f"substring({branch}.path from '{PROVINCE_OF_PATH}')"


_CUSTOMER_ALONG = sa.text(
    f"""UPDATE customer c SET branch_id = :branch, updated_at = :now,
            customer_manager_id = (SELECT s.id FROM staff s JOIN branch sb ON sb.id = s.branch_id
                                   WHERE s.id = c.customer_manager_id AND starts_with(b.path, sb.path))
        FROM branch b, branch home
        WHERE c.id = :customer AND b.id = :branch AND home.id = c.branch_id
          AND {_province("b")} <> {_province("home")}"""
)

# A member's manager who sees the branch (of it or above it), or none.
_MANAGER_SEEING = sa.text(
    """SELECT s.id FROM staff s JOIN branch sb ON sb.id = s.branch_id, branch b
       WHERE s.id = :staff AND b.id = :branch AND starts_with(b.path, sb.path)"""
)

# The open proposals of a member moved to another province (their customer along): reviewed there, under that
# province's rules, they are no one's to decide now, and lapse (the next review of the new province proposes anew).
_PROPOSALS_LOCKED = sa.text("SELECT id FROM grade_proposal WHERE member_id = :member AND state = 'PENDING'"
                            " ORDER BY id FOR UPDATE")  # fmt: skip
_PROPOSALS_LAPSED = sa.text(
    f"""UPDATE grade_proposal p SET state = 'LAPSED', decided_by = :staff, decided_at = :now,
            reason = 'The member moved to another province since the review.'
        FROM branch reviewed, branch b
        WHERE p.member_id = :member AND p.state = 'PENDING' AND reviewed.id = p.branch_id AND b.id = :branch
          AND {_province("reviewed")} <> {_province("b")}"""
)

CANCELLED_WITH_MEMBERSHIP = "MEMBERSHIP_ENDED"
MOVED_WITH_MEMBER = "MEMBER_MOVED"


async def update_member(uow: UnitOfWork, command: UpdateMember) -> Member:
    """Staff maintenance: club, status, validity, manager, profile. Grades change through reviews, and so does
    a grace (GRACE, with its end): staff set ACTIVE, SUSPENDED or ENDED.

    Ending a membership is for good, and cancels the member's usable card and booked redemptions in the same
    transaction; a member moved to a club of another branch takes their usable card along (that branch's staff
    serve it now), and to a club of another province, their customer too."""
    actor = require_staff(uow.principal, Permission.MEMBER_WRITE)
    session = uow.session
    cards: list[Card] = []
    if command.club_id is not UNCHANGED and command.id is not None:  # a move may lapse the member's proposals:
        await session.execute(_PROPOSALS_LOCKED, {"member": command.id})  # locked before cards, as a decision does
    if (command.status == MemberStatus.ENDED or command.club_id is not UNCHANGED) and command.id is not None:
        # Cards before their member, as every card operation locks them: the two never wait in a cycle.
        query = sa.select(Card).where(Card.member_id == command.id, Card.state.in_(USABLE_STATES))
        cards = list((await session.scalars(query.with_for_update())).all())
    check = Checker()
    clean = check_profile(check, changes(command, "interests", "relations"))
    member = await member_in_scope(session, actor, command.id, "id")
    if command.valid_until is None:
        check.fail("valid_until", ErrorCode.REQUIRED, "A membership's last day is changed, never cleared.")
    elif command.valid_until is not UNCHANGED:
        clean["valid_until"] = _check_validity(check, member.joined_on, command.valid_until)
        if command.valid_until < uow.today and not check.problems:  # to end a membership, staff end it
            check.fail("valid_until", ErrorCode.OUT_OF_RANGE, "valid_until has passed: a membership is never made"
                       " expired (set status ENDED to end it).")  # fmt: skip
    if command.status is None:
        check.fail("status", ErrorCode.REQUIRED, "status is required.")
    elif command.status == MemberStatus.GRACE:
        check.fail("status", ErrorCode.INVALID, "A grace is given by the annual review, with its end.")
    elif command.status is not UNCHANGED:
        clean["status"] = MemberStatus(command.status)
        clean["grace_ends_on"] = None  # a grace ends with any status staff set
    check.raise_if_any()
    if command.club_id is not UNCHANGED:
        club = await club_in_scope(session, actor, command.club_id, "club_id")
        clean["club_id"], clean["branch_id"] = club.id, club.branch_id
    if command.customer_manager_id is not UNCHANGED:
        serving = clean.get("branch_id", member.branch_id)
        await check_manager(session, actor, command.customer_manager_id, serving=serving)
        clean["customer_manager_id"] = command.customer_manager_id
    elif "branch_id" in clean and member.customer_manager_id is not None:  # kept only if they see the new branch
        seeing = {"staff": member.customer_manager_id, "branch": clean["branch_id"]}
        clean["customer_manager_id"] = await session.scalar(_MANAGER_SEEING, seeing)
    if clean:
        states.require(member.status, MemberOperation.CHANGE, "id")
    ending = clean.get("status") == MemberStatus.ENDED
    for name, value in clean.items():
        setattr(member, name, value)
    member.updated_at = uow.now
    if ending or "branch_id" in clean:
        await _no_card_given_meanwhile(session, cards, member)
    if ending:
        _cancel(session, cards, member, actor)
        await membership_ended(session, [member.id], uow.policy(GradePolicy).points_end(uow.today), uow.now)
    else:
        _move(session, cards, member, actor)
    if "branch_id" in clean:
        await session.flush()
        await session.execute(_CUSTOMER_ALONG, {"customer": member.customer_id, "branch": member.branch_id,
                                                "now": uow.now})  # fmt: skip
        await session.execute(_PROPOSALS_LAPSED, {"member": member.id, "branch": member.branch_id,
                                                  "staff": actor.staff_id, "now": uow.now})  # fmt: skip
    await session.flush()
    return member


_drawn = sa.select(sa.cast(member_number_sequence.next_value(), sa.String).label("number")).subquery()
# The next member number, unless a subscriber's line has it (None: draw again).
_NEXT_MEMBER_NUMBER = sa.select(_drawn.c.number).where(~sa.exists().where(SubscriberNumber.number == _drawn.c.number))


async def _no_card_given_meanwhile(session: AsyncSession, cards: list[Card], member: Member) -> None:
    """A card handed over between the cards' lock and the member's (the hand-over holds the member while it
    gives the card) is not among the cards locked: the membership does not end beside it, nor does the member
    move without it (it would stay with the branch they left)."""
    usable = sa.select(Card.number).where(Card.member_id == member.id, Card.state.in_(USABLE_STATES))
    if set(await session.scalars(usable)) - {card.number for card in cards}:
        raise DomainError(MemberErrorCode.CARD_GIVEN_MEANWHILE, "The member was given a card just now; try again.",
                          "id")  # fmt: skip


def _move(session: AsyncSession, cards: list[Card], member: Member, actor: StaffPrincipal) -> None:
    """The usable cards (locked already) of a member moved to another branch go with them."""
    for card in cards:
        if card.branch_id != member.branch_id:
            session.add(event(card, CardAction.TRANSFER, card.state, branch_id=card.branch_id,
                              staff_id=actor.staff_id, channel=Channel.COUNTER, reason=MOVED_WITH_MEMBER,
                              to_branch_id=member.branch_id))  # fmt: skip
            card.branch_id, card.updated_at = member.branch_id, member.updated_at


def _cancel(session: AsyncSession, cards: list[Card], member: Member, actor: StaffPrincipal) -> None:
    """An ended membership's usable cards (locked already) are cancelled with it: no card of a former member
    stays usable."""
    for card in cards:
        before, card.state, card.updated_at = card.state, CardState.CANCELLED, member.updated_at
        session.add(event(card, CardAction.CANCEL, before, branch_id=card.branch_id, staff_id=actor.staff_id,
                          channel=Channel.COUNTER, reason=CANCELLED_WITH_MEMBERSHIP))  # fmt: skip


async def update_my_profile(uow: UnitOfWork, command: UpdateMyProfile) -> Member:
    """A member changes their own personal details; never number, grade or card."""
    me = require_member(uow.principal)
    check = Checker()
    personal = check_customer_fields(check, changes(command, *PERSONAL_FIELDS), uow.today)
    profile = check_profile(check, changes(command, "interests", "relations"))
    check.raise_if_any()
    session = uow.session
    member = await session.get(Member, me.member_id, with_for_update=True)
    assert member is not None, "an authenticated member exists"
    customer = await session.get(Customer, member.customer_id, with_for_update=True)
    assert customer is not None
    await apply_customer_changes(uow, customer, personal)
    for name, value in profile.items():
        setattr(member, name, value)
    member.updated_at = uow.now
    await session.flush()
    return member


async def member_in_scope(
    session: AsyncSession, actor: StaffPrincipal, member_id: int | None, field: str, *, lock: bool = True
) -> Member:
    """The member when in the actor's scope (locked unless `lock` is false); NOT_FOUND otherwise."""
    return await locked_in_scope(session, actor, Member, member_id, field, "member", lock=lock)


# --- reads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Me:
    """A member's own view, read in one statement with what the front end shows beside it (records of each)."""

    member: Member
    grade: Grade | None  # None: not read with the member (`get_me(related=False)`)
    club: Club | None
    branch: Branch | None
    customer: Customer
    accounts: list[Account]


# The accounts as an array of rows of the record's columns, named in its order: the driver reads each as a row
# (no JSON made in the database and parsed here), whose values pass through the columns' processors.
_MY_ACCOUNTS = (
    sa.select(sa.func.array_agg(aggregate_order_by(sa.tuple_(*record_columns(Account)), Account.id)))
    .where(Account.customer_id == Member.customer_id)
    .scalar_subquery()
)
_ACCOUNT = driver.row_converter(record_columns(Account), record_type(Account)._make)


def _me(related: bool) -> tuple[tuple[Any, ...], Any]:
    """The tables of the member's own view (`related`: with their grade, club and branch) and its statement."""
    parts = (Member, Grade, Club, Branch, Customer) if related else (Member, Customer)
    accounts = sa.type_coerce(_MY_ACCOUNTS, sa.types.NullType)
    query = sa.select(*(c for part in parts for c in record_columns(part)), accounts).select_from(Member)
    query = query.join(Customer, Customer.id == Member.customer_id)
    if related:
        query = query.join(Grade, Grade.code == Member.grade_code).join(Club, Club.id == Member.club_id)
        query = query.join(Branch, Branch.id == Member.branch_id)
    return parts, query.where(Member.id == sa.bindparam("member_id"))


_ME = {related: _me(related) for related in (True, False)}


async def get_me(engine: AsyncEngine, principal: Principal, *, related: bool = True) -> Me:
    """One statement, straight to the driver on a connection of `engine`'s pool (`domain/work/driver.py`):
    every front end asks for it first. `related`: with the member's grade, club and branch (leave them out
    when the caller remembers those tables' rows: the database then joins two tables instead of five)."""
    me: MemberPrincipal = require_member(principal)
    parts, statement = _ME[related]
    row = (await driver.rows(engine, statement, {"member_id": me.member_id}))[0]
    accounts = [_ACCOUNT(account) for account in row[-1] or ()]
    found = dict(zip(parts, split_records(parts, row[:-1]), strict=True))
    return Me(found[Member], found.get(Grade), found.get(Club), found.get(Branch), found[Customer], accounts)


async def get_members_scoped(session: AsyncSession, principal: Principal, ids: list[int]) -> list[Member | None]:
    query = sa.select(Member, Branch.path).join(Branch).where(Member.id.in_(ids))
    return await visible(session, query, ids, lambda member, path: may_read_member(principal, member.id, path))


_SCOPE, _BRANCH = scoped_listing(Member.branch_id)
_MEMBERS = Listing(Member, Member.id, _SCOPE, _BRANCH | {
    "club_id": lambda: Member.club_id == sa.bindparam("club_id"),
    "grade_code": lambda: Member.grade_code == sa.bindparam("grade_code"),
    "status": lambda: Member.status == sa.bindparam("status"),
    "search": lambda: _member_matches(sa.bindparam("search"), sa.bindparam("search_pattern")),
})  # fmt: skip


async def list_members(
    session: AsyncSession,
    principal: Principal,
    page: PageRequest,
    *,
    branch_id: BranchId | None = None,
    club_id: ClubId | None = None,
    grade_code: str | None = None,
    status: str | None = None,
    search: str | None = None,
) -> Page[Member]:
    actor = require_staff(principal, Permission.MEMBER_READ)
    text, pattern = search_terms(search) if search else (None, None)
    return await _MEMBERS.page(session, page, scope=actor.branch_path, branch_id=branch_id, club_id=club_id,
                               grade_code=grade_code, status=None if status is None else MemberStatus(status),
                               search=text, search_pattern=pattern)  # fmt: skip


def _member_matches(text: Any, pattern: Any) -> Any:
    """Member number, subscriber number or phone equals `text`, or name matches `pattern` ("contains": see
    `search_terms`)."""
    customers = sa.select(Customer.id).where(sa.or_(Customer.name.ilike(pattern), Customer.phone == text))
    lines = sa.select(SubscriberNumber.customer_id).where(SubscriberNumber.number == text)
    return sa.or_(
        Member.member_number == text,
        Member.customer_id.in_(customers.scalar_subquery()),
        Member.customer_id.in_(lines.scalar_subquery()),
    )
