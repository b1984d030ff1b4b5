"""Customers [O2], their credit level history, billing accounts and subscriber lines [O3]."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access import (
    MemberPrincipal,
    Permission,
    Principal,
    StaffPrincipal,
    may_read_branch_scoped,
    require_staff,
)
from domain.customers.errors import CustomerErrorCode
from domain.customers.tables import (
    Account,
    AccountStatus,
    CreditLevel,
    CreditLevelChange,
    Customer,
    CustomerKind,
    Gender,
    IdDocumentType,
    IdentityChange,
    SubscriberNumber,
)
from domain.errors import DomainError, ErrorCode
from domain.members.tables import Member
from domain.organisation.service import (
    branch_in_scope,
    in_scopes,
    locked_in_scope,
    readable,
    staff_in_scope,
    visible,
)
from domain.organisation.tables import Branch, StaffRole
from domain.paging import Page, PageRequest, fetch_page
from domain.validation import (
    Checker,
    document_number,
    money_fen_max,
    name_length_max,
    network_opened_on,
    note_length_max,
    search_terms,
    text_length_max,
)
from domain.work.commands import UNCHANGED, AccountId, BranchId, Command, CustomerId, StaffId, changes
from domain.work.unit import UnitOfWork

subscriber_numbers_per_account_max = 20
accounts_listed_max = 50  # of one customer, those opened last (a short list: `loyalty.graphql.short_list_items_max`)


@dataclass(frozen=True, kw_only=True)
class CreateCustomer(Command):
    branch_id: BranchId
    kind: CustomerKind
    name: str
    id_document_type: IdDocumentType
    id_document_number: str
    gender: Gender | None = None
    birth_date: date | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None
    region: str | None = None
    industry: str | None = None
    customer_manager_id: StaffId | None = None


@dataclass(frozen=True, kw_only=True)
class ChangePersonalDetails(Command):
    """A person's details, as the customer or member gives them: only the fields given change; None
    clears an optional one. Who the person is (name, ID document) is not among them: see `UpdateCustomer`."""

    gender: Gender | None = UNCHANGED
    birth_date: date | None = UNCHANGED
    phone: str | None = UNCHANGED
    email: str | None = UNCHANGED
    address: str | None = UNCHANGED


# Fields a customer (as a member) may change about themselves, and staff may change too.
PERSONAL_FIELDS = tuple(f.name for f in dataclasses.fields(ChangePersonalDetails))
# Who the customer is: changed only by staff who checked the document, and recorded (`IdentityChange`).
IDENTITY_FIELDS = ("name", "id_document_type", "id_document_number")
STAFF_FIELDS = (*IDENTITY_FIELDS, *PERSONAL_FIELDS, "region", "industry", "customer_manager_id")


@dataclass(frozen=True, kw_only=True)
class UpdateCustomer(ChangePersonalDetails):
    """Staff change a customer: who they are (after checking the document), their personal details and what
    the club records about them."""

    id: CustomerId
    name: str | None = UNCHANGED
    id_document_type: IdDocumentType | None = UNCHANGED
    id_document_number: str | None = UNCHANGED
    region: str | None = UNCHANGED
    industry: str | None = UNCHANGED
    customer_manager_id: StaffId | None = UNCHANGED


@dataclass(frozen=True, kw_only=True)
class SetCreditLevel(Command):
    customer_id: CustomerId
    level: CreditLevel
    reason: str


@dataclass(frozen=True, kw_only=True)
class CreateAccount(Command):
    customer_id: CustomerId
    account_number: str
    credit_limit_fen: int = 0
    opened_on: date | None = None  # today
    subscriber_numbers: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class UpdateAccount(Command):
    """Only what is given changes: the account's status (CLOSED for good: its lines end with it), its credit
    limit, and subscriber numbers added to it (billed to it from today) or taken off it."""

    id: AccountId | None
    status: AccountStatus | None = UNCHANGED
    credit_limit_fen: int | None = UNCHANGED
    add_subscriber_numbers: list[str] = field(default_factory=list)
    remove_subscriber_numbers: list[str] = field(default_factory=list)


def check_customer_fields(check: Checker, fields: dict[str, Any], today: date) -> dict[str, Any]:
    """Validate the customer fields present in `fields`; absent ones are left alone."""
    clean: dict[str, Any] = {}
    texts = {  # field: (required, length_max)
        "name": (True, name_length_max),
        "address": (False, text_length_max),
        "region": (False, name_length_max),
        "industry": (False, name_length_max),
    }
    for name, (required, length_max) in texts.items():
        if name in fields:
            clean[name] = check.text(name, fields[name], length_max=length_max, required=required)
    for name, enum in {"id_document_type": IdDocumentType, "gender": Gender}.items():
        if name in fields:
            if fields[name] is None and name == "id_document_type":
                check.fail(name, ErrorCode.REQUIRED, f"{name} is required.")
            clean[name] = None if fields[name] is None else enum(fields[name])
    if "id_document_number" in fields:
        clean["id_document_number"] = check.document("id_document_number", fields["id_document_number"])
    if "phone" in fields:
        clean["phone"] = check.phone("phone", fields["phone"])
    if "email" in fields:
        clean["email"] = check.email("email", fields["email"])
    if "birth_date" in fields:
        clean["birth_date"] = check.past_date("birth_date", fields["birth_date"], today)
    if "customer_manager_id" in fields:
        clean["customer_manager_id"] = fields["customer_manager_id"]
    return clean


async def _check_document_free(session: AsyncSession, customer: Customer) -> None:
    query = sa.select(Customer.id).where(
        Customer.id_document_type == customer.id_document_type,
        Customer.id_document_number == customer.id_document_number,
        Customer.id != customer.id if customer.id is not None else sa.true(),
    )
    if await session.scalar(query) is not None:
        raise DomainError(ErrorCode.DUPLICATE, "Another customer has this ID document.", "id_document_number")


async def check_manager(
    session: AsyncSession, actor: StaffPrincipal, staff_id: int | None, *, serving: BranchId | None = None
) -> None:
    """A customer manager, when one is named, is an active customer manager inside the actor's subtree (as the
    one cards are issued to): members see their name, and call them. A customer's (`serving`: its branch) is
    of the customer's branch or of one above it: a manager who may not see the customer manages nothing."""
    if staff_id is not None:
        await staff_in_scope(session, actor, staff_id, "customer_manager_id", role=StaffRole.CUSTOMER_MANAGER,
                             serving=serving)  # fmt: skip


async def create_customer(uow: UnitOfWork, command: CreateCustomer) -> Customer:
    actor = require_staff(uow.principal, Permission.CUSTOMER_WRITE)
    check = Checker()
    clean = check_customer_fields(check, changes(command, *STAFF_FIELDS), uow.today)
    check.raise_if_any()
    session = uow.session
    branch = await branch_in_scope(session, actor, command.branch_id, "branch_id")
    await check_manager(session, actor, command.customer_manager_id, serving=branch.id)
    customer = Customer(branch_id=branch.id, kind=CustomerKind(command.kind), **clean)
    await _check_document_free(session, customer)
    session.add(customer)
    await session.flush()
    return customer


async def update_customer(uow: UnitOfWork, command: UpdateCustomer) -> Customer:
    actor = require_staff(uow.principal, Permission.CUSTOMER_WRITE)
    check = Checker()
    clean = check_customer_fields(check, changes(command, *STAFF_FIELDS), uow.today)
    check.raise_if_any()
    customer = await customer_in_scope(uow.session, actor, command.id, "id", lock=True)
    await check_manager(uow.session, actor, clean.get("customer_manager_id"), serving=customer.branch_id)
    before = _identity(customer)
    await apply_customer_changes(uow, customer, clean)
    if _identity(customer) != before:
        uow.session.add(IdentityChange(customer_id=customer.id, before=before, after=_identity(customer),
                                       staff_id=actor.staff_id))  # fmt: skip
        await uow.session.flush()
    return customer


def _identity(customer: Customer) -> dict[str, Any]:
    return {name: str(getattr(customer, name)) for name in IDENTITY_FIELDS}


async def apply_customer_changes(uow: UnitOfWork, customer: Customer, clean: dict[str, Any]) -> None:
    for name, value in clean.items():
        setattr(customer, name, value)
    if "id_document_type" in clean or "id_document_number" in clean:
        await _check_document_free(uow.session, customer)
    customer.updated_at = uow.now
    await uow.session.flush()


async def customer_in_scope(
    session: AsyncSession, actor: StaffPrincipal, customer_id: int | None, field: str, *, lock: bool = False
) -> Customer:
    return await locked_in_scope(session, actor, Customer, customer_id, field, "customer", lock=lock)


async def set_credit_level(uow: UnitOfWork, command: SetCreditLevel) -> Customer:
    """The new level, with the change and its reason kept in the customer's credit history."""
    actor = require_staff(uow.principal, Permission.CREDIT_LEVEL_SET)
    check = Checker()
    reason = check.text("reason", command.reason, length_max=note_length_max, required=True)
    check.raise_if_any()
    session = uow.session
    customer = await customer_in_scope(session, actor, command.customer_id, "customer_id", lock=True)
    new_level = CreditLevel(command.level)
    if customer.credit_level == new_level:
        raise DomainError(
            CustomerErrorCode.CREDIT_LEVEL_UNCHANGED, f"The credit level is {new_level} already.", "level"
        )
    session.add(
        CreditLevelChange(
            customer_id=customer.id,
            level_before=customer.credit_level,
            level_after=new_level,
            reason=reason,
            staff_id=actor.staff_id,
        )
    )
    customer.credit_level = new_level
    customer.updated_at = uow.now
    await session.flush()
    return customer


def _check_account(check: Checker, command: CreateAccount) -> tuple[str | None, list[str | None]]:
    """(account number, subscriber numbers) of a new account, checked."""
    account_number = check.number("account_number", command.account_number)
    check.integer("credit_limit_fen", command.credit_limit_fen, minimum=0, maximum=money_fen_max)
    return account_number, _check_numbers(check, "subscriber_numbers", command.subscriber_numbers)


def _check_numbers(check: Checker, field: str, given: list[str]) -> list[str | None]:
    """Subscriber numbers as given for one account: at most as many as an account holds, each once."""
    if len(given) > subscriber_numbers_per_account_max:
        check.fail(field, ErrorCode.OUT_OF_RANGE, "Too many subscriber numbers for one account.")
    numbers = [check.number(field, n) for n in given[:subscriber_numbers_per_account_max]]
    if len(set(numbers)) != len(numbers):
        check.fail(field, ErrorCode.DUPLICATE, "A subscriber number is listed twice.")
    return numbers


async def _require_numbers_free(session: AsyncSession, actor: StaffPrincipal, numbers: list[Any], field: str) -> None:
    """Each of `numbers` is neither another line's nor a member's number (members log in with either)."""
    if not numbers:
        return
    taken = (await session.execute(_numbers_taken(numbers))).all()
    for kind, what in (
        ("member", "Member numbers cannot be subscriber numbers"),
        ("line", "Subscriber numbers in use"),
    ):
        found = [(number, path) for number, path, of in taken if of == kind]
        if found:  # numbers of the caller's subtree are named; another branch's customers are not revealed
            yours = sorted(number for number, path in found if actor.covers(path))
            named = f": {', '.join(yours)}" if len(yours) == len(found) else ""
            raise DomainError(ErrorCode.DUPLICATE, f"{what}{named}.", field)


def _numbers_taken(numbers: list[str | None]) -> Any:
    """(number, branch path, "line" or "member") of each of `numbers` that is a subscriber number already, or a
    member's number: members log in with either, so a line numbered as another member would name two people."""
    lines = (
        sa.select(SubscriberNumber.number, Branch.path, sa.literal("line"))
        .join(Customer, Customer.id == SubscriberNumber.customer_id)
        .join(Branch, Branch.id == Customer.branch_id)
        .where(SubscriberNumber.number.in_(numbers))
    )
    members = (
        sa.select(Member.member_number, Branch.path, sa.literal("member"))
        .join(Branch, Branch.id == Member.branch_id)
        .where(Member.member_number.in_(numbers))
    )
    return sa.union_all(lines, members)


async def create_account(uow: UnitOfWork, command: CreateAccount) -> Account:
    """A billing account with its subscriber numbers, each billed to it from its opening day."""
    actor = require_staff(uow.principal, Permission.CUSTOMER_WRITE)
    check = Checker()
    account_number, numbers = _check_account(check, command)
    # The tenure bonus counts from here: an opening day is between the network's first and today.
    check.past_date("opened_on", command.opened_on, uow.today, earliest=network_opened_on)
    check.raise_if_any()
    session = uow.session
    customer = await customer_in_scope(session, actor, command.customer_id, "customer_id")
    if await session.scalar(sa.select(Account.id).where(Account.account_number == account_number)) is not None:
        raise DomainError(ErrorCode.DUPLICATE, f"Account {account_number} exists already.", "account_number")
    await _require_numbers_free(session, actor, numbers, "subscriber_numbers")
    opened_on = command.opened_on or uow.today
    account = Account(
        customer_id=customer.id,
        account_number=account_number,
        credit_limit_fen=command.credit_limit_fen,
        opened_on=opened_on,
    )
    session.add(account)
    await session.flush()
    session.add_all(
        SubscriberNumber(number=n, account_id=account.id, customer_id=customer.id, activated_on=opened_on)
        for n in numbers
    )
    await session.flush()
    return account


async def update_account(uow: UnitOfWork, command: UpdateAccount) -> Account:
    """The account's status, credit limit and lines, as given. Closing it ends its lines: their numbers are
    taken off it (free for another account; members no longer log in with them)."""
    actor = require_staff(uow.principal, Permission.CUSTOMER_WRITE)
    check = Checker()
    given, clean = changes(command, "status", "credit_limit_fen"), {}
    if "status" in given and (status := check.required("status", given["status"])) is not None:
        clean["status"] = AccountStatus(status)
    if "credit_limit_fen" in given and check.required("credit_limit_fen", given["credit_limit_fen"]) is not None:
        limit = given["credit_limit_fen"]
        clean["credit_limit_fen"] = check.integer("credit_limit_fen", limit, minimum=0, maximum=money_fen_max)
    added = _check_numbers(check, "add_subscriber_numbers", command.add_subscriber_numbers)
    removed = _check_numbers(check, "remove_subscriber_numbers", command.remove_subscriber_numbers)
    if set(added) & set(removed):
        check.fail("add_subscriber_numbers", ErrorCode.INVALID, "A number is both added and taken off.")
    closing = clean.get("status") == AccountStatus.CLOSED
    if closing and added:
        check.fail("add_subscriber_numbers", ErrorCode.INVALID, "A closed account takes no numbers.")
    check.raise_if_any()
    session = uow.session
    account = await session.get(Account, command.id, with_for_update={"key_share": True}) if command.id else None
    if account is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such account in your scope.", "id")
    path = await session.scalar(
        sa.select(Branch.path).join(Customer, Customer.branch_id == Branch.id).where(Customer.id == account.customer_id)
    )
    if not actor.covers(path or ""):  # refused as a missing one: another branch's accounts are not revealed
        raise DomainError(ErrorCode.NOT_FOUND, "No such account in your scope.", "id")
    if account.status == AccountStatus.CLOSED:
        raise DomainError(CustomerErrorCode.ACCOUNT_CLOSED, f"Account {account.account_number} is closed: open a"
                          " new one.", "id")  # fmt: skip
    held = sa.select(SubscriberNumber.number).where(SubscriberNumber.account_id == account.id)
    lines = set(await session.scalars(held))
    if strangers := sorted(set(removed) - lines):
        raise DomainError(ErrorCode.NOT_FOUND, f"Not billed to this account: {', '.join(strangers)}.",
                          "remove_subscriber_numbers")  # fmt: skip
    if len(lines) - len(removed) + len(added) > subscriber_numbers_per_account_max:
        raise DomainError(ErrorCode.OUT_OF_RANGE, f"An account holds at most {subscriber_numbers_per_account_max}"
                          " subscriber numbers.", "add_subscriber_numbers")  # fmt: skip
    await _require_numbers_free(session, actor, added, "add_subscriber_numbers")
    ending = lines if closing else set(removed)
    for name, value in clean.items():
        setattr(account, name, value)
    if ending:
        await session.execute(sa.delete(SubscriberNumber).where(SubscriberNumber.number.in_(sorted(ending))))
    session.add_all(SubscriberNumber(number=n, account_id=account.id, customer_id=account.customer_id,
                                     activated_on=uow.today) for n in added)  # fmt: skip
    await session.flush()
    return account


# --- reads ------------------------------------------------------------------------------


async def list_customers(
    session: AsyncSession,
    principal: Principal,
    page: PageRequest,
    *,
    branch_id: BranchId | None = None,
    credit_level: str | None = None,
    kind: str | None = None,
    search: str | None = None,
) -> Page[Customer]:
    actor = require_staff(principal, Permission.CUSTOMER_READ)
    query = sa.select(Customer).where(await in_scopes(session, actor, Customer.branch_id, branch_id))
    if credit_level is not None:
        query = query.where(Customer.credit_level == CreditLevel(credit_level))
    if kind is not None:
        query = query.where(Customer.kind == CustomerKind(kind))
    if search:
        query = query.where(customer_matches(search))
    return await fetch_page(session, query, Customer.id, page)


def customer_matches(search: str) -> Any:
    """Name contains, or phone, ID document or subscriber number equals, the search text."""
    text, pattern = search_terms(search)
    lines = sa.select(SubscriberNumber.customer_id).where(SubscriberNumber.number == text)
    return sa.or_(
        Customer.name.ilike(pattern),
        Customer.phone == text,
        Customer.id_document_number == document_number(text),
        Customer.id.in_(lines.scalar_subquery()),
    )


async def get_customers_scoped(session: AsyncSession, principal: Principal, ids: list[int]) -> list[Customer | None]:
    query = sa.select(Customer, Branch.path).join(Branch).where(Customer.id.in_(ids))
    return await visible(session, query, ids, readable(principal, Permission.CUSTOMER_READ))


async def get_accounts_scoped(session: AsyncSession, principal: Principal, ids: list[int]) -> list[Account | None]:
    """Staff who may read the customer, or the member who is the customer."""
    member_customer = await _own_customer_id(session, principal)
    query = (
        sa.select(Account, Branch.path)
        .join(Customer, Customer.id == Account.customer_id)
        .join(Branch, Branch.id == Customer.branch_id)
        .where(Account.id.in_(ids))
    )

    def allowed(account: Account, path: str) -> bool:
        staff_may = may_read_branch_scoped(principal, Permission.CUSTOMER_READ, path)
        return staff_may or account.customer_id == member_customer

    return await visible(session, query, ids, allowed)


async def _own_customer_id(session: AsyncSession, principal: Principal) -> int | None:
    if not isinstance(principal, MemberPrincipal):
        return None
    return await session.scalar(sa.select(Member.customer_id).where(Member.id == principal.member_id))
