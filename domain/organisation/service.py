"""Branches [O1], clubs [O4] and grades [G1]."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from domain import passwords
from domain.access import (
    Permission,
    Principal,
    StaffPrincipal,
    may_read_branch_scoped,
    require_staff,
    role_grants,
)
from domain.columns import record_columns, record_type, records, same_code
from domain.errors import DomainError, ErrorCode
from domain.members.tables import Grade
from domain.organisation.errors import OrganisationErrorCode
from domain.organisation.tables import Branch, BranchLevel, Club, Staff, StaffRole
from domain.paging import Page, PageRequest, fetch_page
from domain.validation import Checker, name_length_max
from domain.work.commands import UNCHANGED, BranchId, ClubId, Command, changes
from domain.work.unit import UnitOfWork

_child_level = {BranchLevel.HQ: BranchLevel.PROVINCE, BranchLevel.PROVINCE: BranchLevel.CITY}


def in_subtree(path_column: Any, root_path: str) -> Any:
    """SQL test that a branch path lies in the subtree rooted at `root_path`."""
    escaped = root_path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return path_column.like(escaped + "%")


def branches_under(path: Any) -> Any:
    """The ids of the branches in the subtree rooted at the branch path `path`, an expression (a bound
    parameter, a subquery): a NULL path has none."""
    return sa.select(Branch.id).where(sa.func.starts_with(Branch.path, path)).scalar_subquery()


# A branch's province: the start of its path ("/1/4/" of "/1/4/9/"); headquarters ("/1/") is a province of its own.
PROVINCE_OF_PATH = "^/[0-9]+/(?:[0-9]+/)?"


def subtree_branch_ids(root_path: str) -> Any:
    return branches_under(sa.literal(root_path, sa.String))


def scoped_listing(branch_column: Any) -> tuple[Callable[[], Any], dict[str, Callable[[], Any]]]:
    """A listing's scope (`domain.paging.Listing`): rows of the branches under the path bound as "scope"
    (the caller's branch path; left out, nothing), and its filter "branch_id": of that branch's subtree too
    (a branch that does not exist selects nothing)."""
    root = sa.select(Branch.path).where(Branch.id == sa.bindparam("branch_id", type_=sa.BigInteger))
    return (
        lambda: branch_column.in_(branches_under(sa.bindparam("scope", type_=sa.String))),
        {"branch_id": lambda: branch_column.in_(branches_under(root.scalar_subquery()))},
    )


async def branch_by_code(session: AsyncSession, code: str) -> Branch:
    """The branch with this code, in any case (the command line names branches by code; codes are unique
    whatever their case)."""
    branch = (await session.scalars(sa.select(Branch).where(same_code(Branch.code, code)))).first()
    if branch is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"No branch {code}.", "branch")
    return branch


async def in_scopes(session: AsyncSession, actor: StaffPrincipal, branch_column: Any, branch_id: int | None) -> Any:
    """A list filter: rows of the actor's subtree and, when `branch_id` is given, of that branch's
    subtree too (a branch that does not exist selects nothing)."""
    condition = branch_column.in_(subtree_branch_ids(actor.branch_path))
    if branch_id is None:
        return condition
    root = await session.get(Branch, branch_id)
    return sa.and_(condition, branch_column.in_(subtree_branch_ids(root.path if root else "-")))


async def locked_in_scope(
    session: AsyncSession, actor: StaffPrincipal, model: Any, key: Any, field: str, what: str, *, lock: bool = True
) -> Any:
    """The row of `model` (having `branch_id`), locked on its own, when its branch is in the actor's subtree.

    The row is locked alone, not in a join with its branch: after waiting for a lock,
    PostgreSQL re-checks a join against the old branch row, and a row another transaction
    just moved would vanish. The lock is FOR NO KEY UPDATE (ids never change): it keeps out
    other writers of the row but not the key-share locks of foreign-key checks on rows that
    refer to it, so a transaction holding, say, a member never waits in a cycle with one that
    holds the member's balance and checks its reference.
    """
    exclusive = {"key_share": True} if lock else False
    row = await session.get(model, key, with_for_update=exclusive, populate_existing=lock) if key is not None else None
    path = await session.scalar(sa.select(Branch.path).where(Branch.id == row.branch_id)) if row else None
    if row is None or not actor.covers(path):
        raise DomainError(ErrorCode.NOT_FOUND, f"No such {what} in your scope.", field)
    return row


async def branch_in_scope(session: AsyncSession, actor: StaffPrincipal, branch_id: int | None, field: str) -> Branch:
    """The branch when it exists inside the actor's subtree; NOT_FOUND otherwise (existence is not revealed)."""
    branch = await session.get(Branch, branch_id) if branch_id is not None else None
    if branch is None or not actor.covers(branch.path):
        raise DomainError(ErrorCode.NOT_FOUND, "No such branch in your scope.", field)
    return branch


async def visible(
    session: AsyncSession, query: Any, ids: list[int], allowed: Callable[[Any, str], bool]
) -> list[Any | None]:
    """Rows of `query` (selecting (entity, branch path)) in the order of `ids`, as records of the entity's
    columns; None where missing or not allowed."""
    model = query.column_descriptions[0]["entity"]
    columns = record_columns(model)
    query = query.with_only_columns(*columns, *[d["expr"] for d in query.column_descriptions[1:]])
    make = record_type(model)._make
    found = (await (await session.connection()).execute(query)).all()
    rows = {row.id: (row, path) for row, path in ((make(r[: len(columns)]), r[len(columns)]) for r in found)}
    return [found[0] if found and allowed(*found) else None for found in (rows.get(i) for i in ids)]


def readable(principal: Principal, permission: Permission, *, scoped: bool = True) -> Callable[[Any, str], bool]:
    """Staff whose role grants `permission` and, when `scoped`, whose subtree holds the row's branch."""
    if not scoped:
        return lambda _row, _path: role_grants(principal, permission)
    return lambda _row, path: may_read_branch_scoped(principal, permission, path)


# --- branches ---------------------------------------------------------------------------


async def create_branch(session: AsyncSession, *, code: str, name: str, parent_code: str | None) -> Branch:
    """Operators' set-up step (CLI): HQ has no parent; provinces sit under HQ, cities under provinces."""
    check = Checker()
    code = check.code("code", code)
    name = check.text("name", name, length_max=name_length_max, required=True)
    check.raise_if_any()
    if (taken := await session.scalar(sa.select(Branch.code).where(same_code(Branch.code, code)))) is not None:
        raise DomainError(ErrorCode.DUPLICATE, f"Branch {taken} exists already.", "code")
    parent = None
    if parent_code is not None:
        parent = (await session.scalars(sa.select(Branch).where(same_code(Branch.code, parent_code)))).first()
        if parent is None or parent.level not in _child_level:
            raise DomainError(ErrorCode.NOT_FOUND, "No such parent branch (HQ or a province).", "parent")
    elif await session.scalar(sa.select(Branch.id).where(Branch.level == BranchLevel.HQ)) is not None:
        raise DomainError(
            OrganisationErrorCode.HEADQUARTERS_EXISTS, "There is one headquarters already; name a parent.", "parent"
        )
    level = _child_level[parent.level] if parent else BranchLevel.HQ
    branch = Branch(code=code, name=name, level=level, parent_id=parent.id if parent else None, path="")
    session.add(branch)
    await session.flush()
    branch.path = f"{parent.path if parent else '/'}{branch.id}/"
    await session.flush()
    return branch


async def list_branches(session: AsyncSession, principal: Principal) -> list[Branch]:
    actor = require_staff(principal, Permission.ORGANISATION_READ)
    query = sa.select(Branch).where(in_subtree(Branch.path, actor.branch_path)).order_by(Branch.path)
    return await records(session, query.limit(10_000))


async def get_branches(session: AsyncSession, principal: Principal, ids: list[int]) -> list[Branch | None]:
    query = sa.select(Branch, Branch.path).where(Branch.id.in_(ids))
    return await visible(session, query, ids, readable(principal, Permission.ORGANISATION_READ))


async def get_staff_scoped(session: AsyncSession, principal: Principal, ids: list[int]) -> list[Staff | None]:
    query = sa.select(Staff, Branch.path).join(Branch, Branch.id == Staff.branch_id).where(Staff.id.in_(ids))
    return await visible(session, query, ids, readable(principal, Permission.ORGANISATION_READ))


# --- grades -----------------------------------------------------------------------------


async def list_grades(session: AsyncSession) -> list[Grade]:
    return await records(session, sa.select(Grade).order_by(Grade.rank))


# --- clubs ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CreateClub(Command):
    branch_id: BranchId
    code: str
    category: str
    name: str
    contact_person: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateClub(Command):
    """Only the fields given change; None clears an optional one."""

    id: ClubId
    category: str | None = UNCHANGED
    name: str | None = UNCHANGED
    contact_person: str | None = UNCHANGED
    phone: str | None = UNCHANGED
    email: str | None = UNCHANGED
    address: str | None = UNCHANGED


_club_fields = ("category", "name", "contact_person", "phone", "email", "address")


def _check_club(check: Checker, fields: dict[str, Any]) -> dict[str, Any]:
    """The club fields present in `fields`, checked; category and name may not be cleared."""
    checks: dict[str, Callable[[Any], Any]] = {
        "category": lambda v: check.text("category", v, length_max=name_length_max, required=True),
        "name": lambda v: check.text("name", v, length_max=name_length_max, required=True),
        "contact_person": lambda v: check.text("contact_person", v, length_max=name_length_max),
        "phone": lambda v: check.phone("phone", v),
        "email": lambda v: check.email("email", v),
        "address": lambda v: check.text("address", v),
    }
    return {field: checks[field](value) for field, value in fields.items()}


async def create_club(uow: UnitOfWork, command: CreateClub) -> Club:
    actor = require_staff(uow.principal, Permission.CLUB_WRITE)
    check = Checker()
    code = check.code("code", command.code)
    clean = _check_club(check, changes(command, *_club_fields))
    check.raise_if_any()
    session = uow.session
    branch = await branch_in_scope(session, actor, command.branch_id, "branch_id")
    if (taken := await session.scalar(sa.select(Club.code).where(same_code(Club.code, code)))) is not None:
        raise DomainError(ErrorCode.DUPLICATE, f"Club code {taken} is taken.", "code")
    club = Club(branch_id=branch.id, code=code, **clean)
    session.add(club)
    await session.flush()
    return club


async def update_club(uow: UnitOfWork, command: UpdateClub) -> Club:
    actor = require_staff(uow.principal, Permission.CLUB_WRITE)
    check = Checker()
    clean = _check_club(check, changes(command, *_club_fields))
    check.raise_if_any()
    club = await club_in_scope(uow.session, actor, command.id, "id")
    for field, value in clean.items():
        setattr(club, field, value)
    await uow.session.flush()
    return club


async def club_in_scope(session: AsyncSession, actor: StaffPrincipal, club_id: int | None, field: str) -> Club:
    row = (
        (await session.execute(sa.select(Club, Branch.path).join(Branch).where(Club.id == club_id))).first()
        if club_id is not None
        else None
    )
    if row is None or not actor.covers(row[1]):
        raise DomainError(ErrorCode.NOT_FOUND, "No such club in your scope.", field)
    return row[0]


async def list_clubs(session: AsyncSession, principal: Principal, page: PageRequest) -> Page[Club]:
    actor = require_staff(principal, Permission.ORGANISATION_READ)
    query = sa.select(Club).where(Club.branch_id.in_(subtree_branch_ids(actor.branch_path)))
    return await fetch_page(session, query, Club.id, page)


async def get_clubs_scoped(session: AsyncSession, principal: Principal, ids: list[int]) -> list[Club | None]:
    query = sa.select(Club, Branch.path).join(Branch).where(Club.id.in_(ids))
    return await visible(session, query, ids, readable(principal, Permission.ORGANISATION_READ))


# --- staff ------------------------------------------------------------------------------


async def staff_in_scope(
    session: AsyncSession,
    actor: StaffPrincipal,
    staff_id: int | None,
    field: str,
    *,
    role: StaffRole | None = None,
    serving: BranchId | None = None,
) -> Staff:
    """An active staff member (of `role`, if given) inside the actor's subtree; NOT_FOUND otherwise. Given
    `serving`, the branch of the customer they are to manage, of that branch or one above it, so that they see
    the customer: INVALID otherwise (the actor sees them, and is told why)."""
    served = aliased(Branch)
    sees = sa.select(sa.func.starts_with(served.path, Branch.path)).where(served.id == serving).correlate(Branch)
    query = sa.select(Staff, Branch.path, sees.scalar_subquery() if serving is not None else sa.true())
    query = query.join(Branch, Branch.id == Staff.branch_id).where(Staff.id == staff_id)
    row = (await session.execute(query)).first() if staff_id is not None else None
    if row is None or not actor.covers(row[1]) or not row[0].active or role not in (None, row[0].role):
        raise DomainError(ErrorCode.NOT_FOUND, "No such customer manager in your scope.", field)
    if not row[2]:
        raise DomainError(ErrorCode.INVALID, f"{row[0].display_name} is of a branch that does not see this"
                          " customer: name a customer manager of its branch or of one above it.", field)  # fmt: skip
    return row[0]


async def create_staff(
    session: AsyncSession, *, username: str, display_name: str, role: str, branch_code: str, password: str
) -> Staff:
    """Operators' set-up step (CLI): the password arrives on stdin, never on the command line."""
    check = Checker()
    username = check.code("username", username)
    display_name = check.text("display_name", display_name, length_max=name_length_max, required=True)
    check.password("password", password)
    check.text("branch", branch_code, required=True)
    if role not in StaffRole.__members__:
        check.fail("role", ErrorCode.INVALID, f"role must be one of {', '.join(StaffRole.__members__)}.")
    check.raise_if_any()
    branch = await branch_by_code(session, branch_code)
    if (
        taken := await session.scalar(sa.select(Staff.username).where(same_code(Staff.username, username)))
    ) is not None:
        raise DomainError(ErrorCode.DUPLICATE, f"Username {taken} is taken.", "username")
    staff = Staff(
        username=username,
        display_name=display_name,
        role=StaffRole(role),
        branch_id=branch.id,
        password_hash=await passwords.hash_secret(password),
    )
    session.add(staff)
    await session.flush()
    return staff
