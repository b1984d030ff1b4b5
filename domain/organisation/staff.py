"""Staff accounts [O6]: their display name, their role, and whether they may log in at all.

Staff are created by operators on the command line (`loyalty create-staff`); administrators then keep them:
rename them, change their role, and deactivate a departing employee, which ends their access at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access import Permission, Principal, StaffPrincipal, require_staff
from domain.auth import service as auth
from domain.auth.tables import AuthSession
from domain.errors import DomainError, ErrorCode
from domain.organisation.service import locked_in_scope, scoped_listing
from domain.organisation.tables import Branch, Staff, StaffDeactivation, StaffRole
from domain.paging import Listing, Page, PageRequest
from domain.validation import Checker, name_length_max
from domain.work.commands import UNCHANGED, BranchId, Command, StaffId, changes
from domain.work.unit import UnitOfWork


@dataclass(frozen=True, kw_only=True)
class UpdateStaff(Command):
    """Only the fields given change. Deactivating ends every session of the person at once; a role change
    takes effect at their next request."""

    id: StaffId | None
    display_name: str | None = UNCHANGED
    role: StaffRole | None = UNCHANGED
    active: bool | None = UNCHANGED


def _checked(check: Checker, given: dict[str, object]) -> dict[str, object]:
    checks = {
        "display_name": lambda v: check.text("display_name", v, length_max=name_length_max, required=True),
        "role": lambda v: check.required("role", v) and StaffRole(v),
        "active": lambda v: check.required("active", v),
    }
    return {field: checks[field](value) for field, value in given.items()}


async def update_staff(uow: UnitOfWork, command: UpdateStaff) -> Staff:
    actor = require_staff(uow.principal, Permission.STAFF_MANAGE)
    check = Checker()
    clean = _checked(check, changes(command, "display_name", "role", "active"))
    check.raise_if_any()
    staff = await locked_in_scope(uow.session, actor, Staff, command.id, "id", "staff member")
    if staff.id == actor.staff_id:
        # An administrator who deactivated themselves, or gave up their role, could not undo it.
        if clean.get("active") is False:
            raise DomainError(ErrorCode.INVALID, "You may not deactivate yourself: you would lock yourself out."
                              " Ask another administrator.", "active")  # fmt: skip
        if "role" in clean and clean["role"] != staff.role:
            raise DomainError(ErrorCode.INVALID, "You may not change your own role: you would lock yourself out of"
                              " managing staff. Ask another administrator.", "role")  # fmt: skip
    elif staff.branch_id == actor.branch_id and StaffRole.ADMINISTRATOR in (staff.role, clean.get("role")):
        # Administrators are made and kept from the branch above theirs: one could otherwise lock out the
        # branch's other administrators, or make more of them, with no one above having a say.
        field = "id" if staff.role == StaffRole.ADMINISTRATOR else "role"
        raise DomainError(ErrorCode.FORBIDDEN, "Administrators of your own branch are made and kept by those of a"
                          " branch above it.", field)  # fmt: skip
    ends_access = clean.get("active") is False
    if "active" in clean and clean["active"] != staff.active:
        await _deactivation_recorded(uow, actor, staff, clean["active"])
    # what the person's principal is read from (a display name is not part of it)
    changes_principal = any(field in clean and clean[field] != getattr(staff, field) for field in ("role", "active"))
    for field, value in clean.items():
        setattr(staff, field, value)
    await uow.session.flush()
    if ends_access:
        await uow.session.execute(
            sa.update(AuthSession)
            .where(AuthSession.staff_id == staff.id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=uow.now)
        )
    if ends_access or changes_principal:
        # this process forgets the person's principal now; the others hear the trigger's notification on commit
        auth.forget_at_once(uow, [("t", staff.id)])
    return staff


async def _deactivation_recorded(uow: UnitOfWork, actor: StaffPrincipal, staff: Staff, active: bool) -> None:
    """Who deactivates an account is kept while it is inactive, and it is reactivated from the branch of the
    administrator who deactivated it, or one above: a province does not undo what headquarters did."""
    if not active:
        uow.session.add(StaffDeactivation(staff_id=staff.id, deactivated_by=actor.staff_id))
        return
    deactivated = sa.delete(StaffDeactivation).where(StaffDeactivation.staff_id == staff.id).returning(
        sa.select(Branch.path).join(Staff, Staff.branch_id == Branch.id)
        .where(Staff.id == StaffDeactivation.deactivated_by).scalar_subquery()
    )  # fmt: skip
    path = await uow.session.scalar(deactivated)
    if path is not None and not actor.covers(path):
        raise DomainError(ErrorCode.FORBIDDEN, "This account was deactivated by an administrator of a branch above"
                          " yours: only that branch, or one above it, reactivates it.", "active")  # fmt: skip


_SCOPE, _BRANCH = scoped_listing(Staff.branch_id)
_STAFF = Listing(Staff, Staff.id, _SCOPE, _BRANCH | {
    "role": lambda: Staff.role == sa.bindparam("role"),
    "active": lambda: Staff.active == sa.bindparam("active"),
})  # fmt: skip


async def list_staff(
    session: AsyncSession,
    principal: Principal,
    page: PageRequest,
    *,
    branch_id: BranchId | None = None,
    role: str | None = None,
    active: bool | None = None,
) -> Page[Staff]:
    """Staff of the caller's subtree (staff), oldest first; narrowed to a branch's subtree, a role, active or not."""
    actor = require_staff(principal, Permission.ORGANISATION_READ)
    return await _STAFF.page(session, page, scope=actor.branch_path, branch_id=branch_id,
                             role=None if role is None else StaffRole(role), active=active)  # fmt: skip
