"""Members [O5]: joining a club, the member's own profile, and staff maintenance."""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import clock, passwords
from domain.access import (
    MemberPrincipal,
    Permission,
    Principal,
    StaffPrincipal,
    may_read_member,
    require_member,
    require_staff,
)
from domain.customers.service import PERSONAL_FIELDS, apply_customer_changes, check_customer_fields, customer_in_scope
from domain.customers.tables import Customer, SubscriberNumber
from domain.errors import DomainError, ErrorCode
from domain.members.tables import Grade, Member, MemberStatus, member_number_sequence
from domain.organisation.service import club_in_scope, locked_in_scope, staff_in_scope, subtree_branch_ids, visible
from domain.organisation.tables import Branch
from domain.paging import Page, PageRequest, fetch_page
from domain.points.tables import PointsBalance
from domain.validation import Checker, list_length_max, name_length_max, note_length_max, search_terms
from domain.work.commands import BranchId, ClubId

membership_years_default = 1
membership_years_max = 10


class RelationKind(StrEnum):
    FAMILY = "FAMILY"
    WORK = "WORK"
    OTHER = "OTHER"


def check_profile(check: Checker, fields: dict[str, Any]) -> dict[str, Any]:
    """Interests and relations: the member's personal profile."""
    clean: dict[str, Any] = {}
    if "interests" in fields:
        clean["interests"] = check.texts("interests", fields["interests"] or [], length_max=name_length_max)
    if "relations" in fields:
        relations = fields["relations"] or []
        if len(relations) > list_length_max:
            check.fail("relations", ErrorCode.OUT_OF_RANGE, f"relations holds at most {list_length_max} items.")
            relations = []
        clean["relations"] = [
            {
                "kind": RelationKind(r["kind"]).value,
                "name": check.text("relations.name", r.get("name"), length_max=name_length_max, required=True),
                "note": check.text("relations.note", r.get("note"), length_max=note_length_max),
            }
            for r in relations
        ]
    return clean


async def _grade(session: AsyncSession, code: str | None) -> Grade:
    grade = await session.get(Grade, code) if code else None
    if grade is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such grade.", "gradeCode")
    return grade


def _check_validity(check: Checker, joined_on: date, valid_until: date | None) -> date:
    if valid_until is None:
        return joined_on.replace(year=joined_on.year + membership_years_default) - timedelta(days=1)
    if not joined_on <= valid_until <= joined_on + timedelta(days=366 * membership_years_max):
        check.fail("validUntil", ErrorCode.OUT_OF_RANGE, f"validUntil must be within {membership_years_max} years.")
    return valid_until


async def create_member(
    session: AsyncSession,
    principal: Principal,
    *,
    customer_id: int | None,
    club_id: int | None,
    grade_code: str,
    joined_on: date | None = None,
    valid_until: date | None = None,
    customer_manager_id: int | None = None,
    password: str | None = None,
    **profile: Any,
) -> Member:
    """The club sets the member number and grade; the member never does."""
    actor = require_staff(principal, Permission.MEMBER_WRITE)
    check = Checker()
    clean = check_profile(check, profile)
    if password is not None:
        check.password("password", password)
    joined_on = joined_on or clock.today()
    if joined_on > clock.today() + timedelta(days=366) or joined_on.year < 1990:
        check.fail("joinedOn", ErrorCode.OUT_OF_RANGE, "joinedOn is too far from today.")
    valid_until = _check_validity(check, joined_on, valid_until)
    check.raise_if_any()
    customer = await customer_in_scope(session, actor, customer_id, "customerId", lock=True)
    club = await club_in_scope(session, actor, club_id, "clubId")
    grade = await _grade(session, grade_code)
    if customer_manager_id is not None:
        await staff_in_scope(session, actor, customer_manager_id, "customerManagerId")
    if await session.scalar(sa.select(Member.id).where(Member.customer_id == customer.id)) is not None:
        raise DomainError(ErrorCode.DUPLICATE, "This customer is a member already.", "customerId")
    number = await session.scalar(sa.select(member_number_sequence.next_value()))
    member = Member(
        member_number=str(number),
        customer_id=customer.id,
        club_id=club.id,
        branch_id=club.branch_id,
        grade_code=grade.code,
        joined_on=joined_on,
        valid_until=valid_until,
        customer_manager_id=customer_manager_id,
        password_hash=passwords.hash_secret(password) if password else None,
        **clean,
    )
    session.add(member)
    await session.flush()
    session.add(PointsBalance(member_id=member.id))  # the member's points account opens with the membership
    return member


async def update_member(session: AsyncSession, principal: Principal, *, id: int | None, **fields: Any) -> Member:
    """Staff maintenance: club, status, validity, manager, profile. Grades change through reviews."""
    actor = require_staff(principal, Permission.MEMBER_WRITE)
    check = Checker()
    clean = check_profile(check, fields)
    member = await member_in_scope(session, actor, id, "id")
    if "valid_until" in fields:
        clean["valid_until"] = _check_validity(check, member.joined_on, fields["valid_until"])
    if "status" in fields:
        clean["status"] = MemberStatus(fields["status"])
    check.raise_if_any()
    if "club_id" in fields:
        club = await club_in_scope(session, actor, fields["club_id"], "clubId")
        clean["club_id"], clean["branch_id"] = club.id, club.branch_id
    if "customer_manager_id" in fields:
        if fields["customer_manager_id"] is not None:
            await staff_in_scope(session, actor, fields["customer_manager_id"], "customerManagerId")
        clean["customer_manager_id"] = fields["customer_manager_id"]
    if member.status == MemberStatus.ENDED and clean:
        raise DomainError(ErrorCode.INVALID_STATE, "This membership has ended.", "id")
    for field, value in clean.items():
        setattr(member, field, value)
    member.updated_at = clock.now()
    await session.flush()
    return member


async def update_my_profile(session: AsyncSession, principal: Principal, **fields: Any) -> Member:
    """A member changes their own personal details; never number, grade or card."""
    me = require_member(principal)
    check = Checker()
    personal = check_customer_fields(check, {k: v for k, v in fields.items() if k in PERSONAL_FIELDS})
    profile = check_profile(check, fields)
    check.raise_if_any()
    member = await session.get(Member, me.member_id, with_for_update=True)
    assert member is not None, "an authenticated member exists"
    customer = await session.get(Customer, member.customer_id, with_for_update=True)
    assert customer is not None
    await apply_customer_changes(session, customer, personal)
    for field, value in profile.items():
        setattr(member, field, value)
    member.updated_at = clock.now()
    await session.flush()
    return member


async def member_in_scope(session: AsyncSession, actor: StaffPrincipal, member_id: int | None, field: str) -> Member:
    return await locked_in_scope(session, actor, Member, member_id, field, "member")


# --- reads ------------------------------------------------------------------------------


async def get_me(session: AsyncSession, principal: Principal) -> Member:
    me: MemberPrincipal = require_member(principal)
    member = await session.get(Member, me.member_id)
    assert member is not None
    return member


async def get_members_scoped(session: AsyncSession, principal: Principal, ids: list[int]) -> list[Member | None]:
    query = sa.select(Member, Branch.path).join(Branch).where(Member.id.in_(ids))
    return await visible(session, query, ids, lambda member, path: may_read_member(principal, member.id, path))


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
    query = sa.select(Member).where(Member.branch_id.in_(subtree_branch_ids(actor.branch_path)))
    if branch_id is not None:
        root = await session.get(Branch, branch_id)
        query = query.where(Member.branch_id.in_(subtree_branch_ids(root.path if root else "-")))
    if club_id is not None:
        query = query.where(Member.club_id == club_id)
    if grade_code is not None:
        query = query.where(Member.grade_code == grade_code)
    if status is not None:
        query = query.where(Member.status == MemberStatus(status))
    if search:
        query = query.where(_member_matches(search))
    return await fetch_page(session, query, Member.id, page)


def _member_matches(search: str) -> Any:
    """Member number, subscriber number or phone equals, or name contains, the search text."""
    text, pattern = search_terms(search)
    customers = sa.select(Customer.id).where(sa.or_(Customer.name.ilike(pattern), Customer.phone == text))
    lines = sa.select(SubscriberNumber.customer_id).where(SubscriberNumber.number == text)
    return sa.or_(
        Member.member_number == text,
        Member.customer_id.in_(customers.scalar_subquery()),
        Member.customer_id.in_(lines.scalar_subquery()),
    )
