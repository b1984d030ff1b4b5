"""The partner registry [X1]: what a partner is, whether it is active, and whom each branch deals with there.

A partner is maintained by one branch, headquarters for a national one: its administrators (and those above)
register and change it. Every branch on the partner's side of the tree (the partner's branch and those below
it) keeps its own contact at the partner, which its own administrators set: a province its contact for a
national partner, without touching what headquarters maintains. A suspended partner's keys are refused until
it is active again; a terminated partnership stays so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access import Permission, Principal, StaffPrincipal, require_staff, role_grants
from domain.auth import service as auth
from domain.columns import records, same_code
from domain.errors import DomainError, ErrorCode
from domain.organisation.service import (
    branch_by_code,
    branch_in_scope,
    locked_in_scope,
    subtree_branch_ids,
    visible,
)
from domain.organisation.tables import Branch
from domain.partners.errors import PartnerErrorCode
from domain.partners.tables import Partner, PartnerApiClient, PartnerContact, PartnerKind, PartnerNature, PartnerStatus
from domain.validation import Checker, name_length_max
from domain.work.commands import UNCHANGED, BranchId, Command, PartnerContactId, PartnerId, changes
from domain.work.unit import UnitOfWork

staff_count_max = 10_000_000
registered_capital_yuan_max = 10**15  # a quadrillion yuan: above any company's
address_length_max = 200
contacts_listed_max = 100  # of one partner: a contact per branch on its side of the tree


@dataclass(frozen=True, kw_only=True)
class CreatePartner(Command):
    branch_id: BranchId | None
    code: str
    name: str
    kind: PartnerKind
    nature: PartnerNature
    address: str | None = None
    legal_representative: str | None = None
    staff_count: int | None = None
    registered_capital_yuan: int | None = None


@dataclass(frozen=True, kw_only=True)
class UpdatePartner(Command):
    """Only the fields given change; a partner's code and branch never do."""

    id: PartnerId | None
    name: str | None = UNCHANGED
    kind: PartnerKind | None = UNCHANGED
    nature: PartnerNature | None = UNCHANGED
    status: PartnerStatus | None = UNCHANGED
    address: str | None = UNCHANGED
    legal_representative: str | None = UNCHANGED
    staff_count: int | None = UNCHANGED
    registered_capital_yuan: int | None = UNCHANGED


@dataclass(frozen=True, kw_only=True)
class SetPartnerContact(Command):
    """The branch's contact at the partner, made or replaced."""

    partner_id: PartnerId | None
    branch_id: BranchId | None
    name: str
    position: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True, kw_only=True)
class RemovePartnerContact(Command):
    id: PartnerContactId | None


def _checked(check: Checker, given: dict[str, Any]) -> dict[str, Any]:
    """The registry's fields as they are kept; a required one given as null is refused."""
    checks = {
        "name": lambda v: check.text("name", v, length_max=name_length_max, required=True),
        "kind": lambda v: check.required("kind", v),
        "nature": lambda v: check.required("nature", v),
        "status": lambda v: check.required("status", v),
        "address": lambda v: check.text("address", v, length_max=address_length_max),
        "legal_representative": lambda v: check.text("legal_representative", v, length_max=name_length_max),
        "staff_count": lambda v: check.integer("staff_count", v, minimum=0, maximum=staff_count_max),
        "registered_capital_yuan": lambda v: check.integer(
            "registered_capital_yuan", v, minimum=0, maximum=registered_capital_yuan_max
        ),
    }
    return {field: checks[field](value) for field, value in given.items()}


async def _refuse_if_taken(session: AsyncSession, code: str) -> None:
    if (taken := await session.scalar(sa.select(Partner.code).where(same_code(Partner.code, code)))) is not None:
        raise DomainError(ErrorCode.DUPLICATE, f"Partner {taken} exists already.", "code")


async def create_partner_by_code(session: AsyncSession, *, code: str, name: str, branch_code: str) -> sa.Row[Any]:
    """Operators' set-up step (the command line, the demo): a partner of kind and nature OTHER, its other details
    kept through the API. Its id and branch_id; it writes only the columns every revision with partners has."""
    check = Checker()
    code_checked = check.code("code", code)
    clean = _checked(check, {"name": name})
    check.raise_if_any()
    assert code_checked is not None
    branch = await branch_by_code(session, branch_code)
    await _refuse_if_taken(session, code_checked)
    made = sa.insert(Partner).values(code=code_checked, branch_id=branch.id, **clean)
    return (await session.execute(made.returning(Partner.id, Partner.branch_id))).one()


async def create_partner(uow: UnitOfWork, command: CreatePartner) -> Partner:
    actor = require_staff(uow.principal, Permission.PARTNER_MANAGE)
    check = Checker()
    code = check.code("code", command.code)
    fields = ("name", "kind", "nature", "address", "legal_representative", "staff_count", "registered_capital_yuan")
    clean = _checked(check, changes(command, *fields))
    check.raise_if_any()
    branch = await branch_in_scope(uow.session, actor, command.branch_id, "branch_id")
    assert code is not None
    await _refuse_if_taken(uow.session, code)
    partner = Partner(code=code, branch_id=branch.id, **clean)
    uow.session.add(partner)
    await uow.session.flush()
    return partner


async def partner_in_scope(
    session: AsyncSession, actor: StaffPrincipal, partner_id: int | None, field: str, *, lock: bool = False
) -> Partner:
    """A partner whose branch lies in the actor's subtree (locked FOR NO KEY UPDATE when `lock`). Every member of
    staff sees every partner, so one of a branch above theirs (a national partner) is named as such, not as
    missing."""
    exclusive = {"key_share": True} if lock else False
    found = partner_id is not None and await session.get(
        Partner, partner_id, with_for_update=exclusive, populate_existing=lock
    )
    if not found:
        raise DomainError(ErrorCode.NOT_FOUND, "No such partner.", field)
    branch = await session.get(Branch, found.branch_id)
    assert branch is not None
    if not actor.covers(branch.path):
        raise DomainError(
            ErrorCode.FORBIDDEN, f"This partner is maintained by {branch.name}: its staff do this.", field
        )
    return found


def refuse_if_terminated(partner: Partner, what: str, field: str) -> None:
    if partner.status == PartnerStatus.TERMINATED:
        raise DomainError(PartnerErrorCode.PARTNER_TERMINATED, f"The partnership with {partner.name} has ended:"
                          f" {what}.", field)  # fmt: skip


async def update_partner(uow: UnitOfWork, command: UpdatePartner) -> Partner:
    actor = require_staff(uow.principal, Permission.PARTNER_MANAGE)
    check = Checker()
    clean = _checked(check, changes(command, *(f for f in command.__dataclass_fields__ if f != "id")))
    check.raise_if_any()
    partner = await partner_in_scope(uow.session, actor, command.id, "id", lock=True)
    if clean.get("status", partner.status) != partner.status:
        refuse_if_terminated(partner, "its status stays TERMINATED", "status")
        keys = await uow.session.scalars(
            sa.select(PartnerApiClient.id).where(PartnerApiClient.partner_id == partner.id)
        )
        auth.forget_at_once(uow, [("p", key) for key in keys])  # the other processes hear of it when it commits
    for field, value in clean.items():
        setattr(partner, field, value)
    await uow.session.flush()
    return partner


async def set_contact(uow: UnitOfWork, command: SetPartnerContact) -> PartnerContact:
    """Made, or replaced when the branch has one: a branch's administrators set their branch's (or one below)."""
    actor = require_staff(uow.principal, Permission.PARTNER_MANAGE)
    check = Checker()
    clean = {
        "name": check.text("name", command.name, length_max=name_length_max, required=True),
        "position": check.text("position", command.position, length_max=name_length_max),
        "phone": check.phone("phone", command.phone),
        "email": check.email("email", command.email),
    }
    check.raise_if_any()
    branch = await branch_in_scope(uow.session, actor, command.branch_id, "branch_id")
    found = (
        await uow.session.execute(
            sa.select(Partner, Branch.path)
            .join(Branch, Branch.id == Partner.branch_id)
            .where(Partner.id == sa.bindparam("id", command.partner_id, sa.BigInteger))
            .with_for_update(read=True, of=Partner)  # a termination at the same moment is waited for, and seen
        )
    ).first()
    if found is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such partner.", "partner_id")
    partner, own = found
    refuse_if_terminated(partner, "it keeps the contacts it had", "partner_id")
    if not branch.path.startswith(own):
        raise DomainError(ErrorCode.INVALID, f"{branch.name} is not on {partner.name}'s side: a contact is kept by"
                          " the partner's branch or one below it.", "branch_id")  # fmt: skip
    upsert = insert(PartnerContact).values(partner_id=partner.id, branch_id=branch.id, **clean)
    made = upsert.on_conflict_do_update(
        constraint="partner_contact_one_per_branch", set_={**clean, "updated_at": sa.func.now()}
    ).returning(PartnerContact)
    contact = (await uow.session.scalars(made, execution_options={"populate_existing": True})).one()
    return contact


async def remove_contact(uow: UnitOfWork, command: RemovePartnerContact) -> PartnerContact:
    """The contact of a branch in the caller's subtree, deleted (answered as it was)."""
    actor = require_staff(uow.principal, Permission.PARTNER_MANAGE)
    contact = await locked_in_scope(uow.session, actor, PartnerContact, command.id, "id", "partner contact")
    await uow.session.delete(contact)
    await uow.session.flush()
    return contact


async def contacts_of(session: AsyncSession, principal: Principal, partner_ids: list[int]) -> list[list[Any]]:
    """Each partner's contacts, by branch (at most `contacts_listed_max`), for staff: those of the branches in
    their subtree and above it (whom their branch and the ones above deal with); none for anyone else."""
    if not role_grants(principal, Permission.ORGANISATION_READ):
        return [[] for _ in partner_ids]
    assert isinstance(principal, StaffPrincipal)
    above = sa.select(Branch.path).where(Branch.id == PartnerContact.branch_id).scalar_subquery()
    seen = sa.or_(
        PartnerContact.branch_id.in_(subtree_branch_ids(principal.branch_path)),
        sa.literal(principal.branch_path, sa.String).startswith(above),  # their branch's or one above it
    )
    ranked = (
        sa.select(
            PartnerContact.id,
            sa.func.row_number()
            .over(partition_by=PartnerContact.partner_id, order_by=PartnerContact.branch_id)
            .label("n"),
        )
        .where(PartnerContact.partner_id.in_(partner_ids), seen)
        .subquery()
    )
    chosen = (
        sa.select(PartnerContact)
        .join(ranked, ranked.c.id == PartnerContact.id)
        .where(ranked.c.n <= contacts_listed_max)
    )
    found: dict[int, list[Any]] = {i: [] for i in partner_ids}
    for contact in await records(session, chosen.order_by(PartnerContact.branch_id)):
        found[contact.partner_id].append(contact)
    return [found[i] for i in partner_ids]


async def get_contacts_scoped(session: AsyncSession, principal: Principal, ids: list[int]) -> list[Any]:
    """Contacts by id, for the staff who see them on their partner (`contacts_of`)."""
    query = (
        sa.select(PartnerContact, Branch.path)
        .join(Branch, Branch.id == PartnerContact.branch_id)
        .where(PartnerContact.id.in_(ids))
    )

    def seen(_row: Any, path: str) -> bool:  # what `contacts_of` shows: their subtree's and above
        reads = role_grants(principal, Permission.ORGANISATION_READ) and isinstance(principal, StaffPrincipal)
        return reads and (principal.covers(path) or principal.branch_path.startswith(path))

    return await visible(session, query, ids, seen)
