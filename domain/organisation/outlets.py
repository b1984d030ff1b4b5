"""Service outlets of a branch [S1]: where members are served and redeem (a counter, a POS, a terminal).

A redemption made at an outlet is recorded with the outlet's branch, which decides whether it was made
in another province than the member's own [A1][G2].
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access import Permission, Principal, require_staff
from domain.columns import same_code
from domain.errors import DomainError, ErrorCode
from domain.organisation.service import branch_in_scope, locked_in_scope, readable, subtree_branch_ids, visible
from domain.organisation.tables import Branch, Outlet, OutletStatus
from domain.paging import Page, PageRequest, fetch_page
from domain.validation import Checker, name_length_max
from domain.work.commands import UNCHANGED, BranchId, Command, OutletId, changes
from domain.work.unit import UnitOfWork


@dataclass(frozen=True, kw_only=True)
class CreateOutlet(Command):
    branch_id: BranchId | None
    code: str
    name: str
    address: str | None = None
    phone: str | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateOutlet(Command):
    """Only the fields given change; closing an outlet keeps its history."""

    id: OutletId | None
    name: str | None = UNCHANGED
    address: str | None = UNCHANGED
    phone: str | None = UNCHANGED
    status: OutletStatus | None = UNCHANGED


def _checked(check: Checker, given: dict[str, object]) -> dict[str, object]:
    checks = {
        "name": lambda v: check.text("name", v, length_max=name_length_max, required=True),
        "address": lambda v: check.text("address", v),
        "phone": lambda v: check.phone("phone", v),
        "status": lambda v: check.required("status", v) and OutletStatus(v),
    }
    return {field: checks[field](value) for field, value in given.items()}


async def create_outlet(uow: UnitOfWork, command: CreateOutlet) -> Outlet:
    actor = require_staff(uow.principal, Permission.CLUB_WRITE)
    check = Checker()
    code = check.code("code", command.code)
    clean = _checked(check, changes(command, "name", "address", "phone"))
    check.raise_if_any()
    branch = await branch_in_scope(uow.session, actor, command.branch_id, "branch_id")
    if (taken := await uow.session.scalar(sa.select(Outlet.code).where(same_code(Outlet.code, code)))) is not None:
        raise DomainError(ErrorCode.DUPLICATE, f"Outlet code {taken} is taken.", "code")
    outlet = Outlet(branch_id=branch.id, code=code, **clean)
    uow.session.add(outlet)
    await uow.session.flush()
    return outlet


async def update_outlet(uow: UnitOfWork, command: UpdateOutlet) -> Outlet:
    actor = require_staff(uow.principal, Permission.CLUB_WRITE)
    check = Checker()
    clean = _checked(check, changes(command, "name", "address", "phone", "status"))
    check.raise_if_any()
    outlet = await locked_in_scope(uow.session, actor, Outlet, command.id, "id", "outlet")
    for field, value in clean.items():
        setattr(outlet, field, value)
    await uow.session.flush()
    return outlet


async def list_outlets(session: AsyncSession, principal: Principal, page: PageRequest) -> Page[Outlet]:
    """Outlets of the caller's subtree (staff)."""
    actor = require_staff(principal, Permission.ORGANISATION_READ)
    query = sa.select(Outlet).where(Outlet.branch_id.in_(subtree_branch_ids(actor.branch_path)))
    return await fetch_page(session, query, Outlet.id, page)


async def get_outlets_scoped(session: AsyncSession, principal: Principal, ids: list[int]) -> list[Outlet | None]:
    query = sa.select(Outlet, Branch.path).join(Branch, Branch.id == Outlet.branch_id).where(Outlet.id.in_(ids))
    return await visible(session, query, ids, readable(principal, Permission.ORGANISATION_READ))
