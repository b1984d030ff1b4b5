"""Customers [O2], their credit level history, billing accounts and subscriber lines [O3]."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import clock
from domain.access import (
    MemberPrincipal,
    Permission,
    Principal,
    StaffPrincipal,
    may_read_branch_scoped,
    require_staff,
)
from domain.customers.tables import (
    Account,
    CreditLevel,
    CreditLevelChange,
    Customer,
    CustomerKind,
    Gender,
    IdDocumentType,
    SubscriberNumber,
)
from domain.errors import DomainError, ErrorCode
from domain.members.tables import Member
from domain.organisation.service import (
    branch_in_scope,
    locked_in_scope,
    readable,
    staff_in_scope,
    subtree_branch_ids,
    visible,
)
from domain.organisation.tables import Branch
from domain.paging import Page, PageRequest, fetch_page
from domain.validation import (
    Checker,
    code_length_max,
    money_fen_max,
    name_length_max,
    note_length_max,
    search_terms,
    text_length_max,
)
from domain.work.commands import BranchId

subscriber_numbers_per_account_max = 20

# Fields a customer (as a member) may change about themselves, and staff may change too.
PERSONAL_FIELDS = (
    "name",
    "id_document_type",
    "id_document_number",
    "gender",
    "birth_date",
    "phone",
    "email",
    "address",
)
STAFF_FIELDS = (*PERSONAL_FIELDS, "region", "industry", "customer_manager_id")


def check_customer_fields(check: Checker, fields: dict[str, Any]) -> dict[str, Any]:
    """Validate the customer fields present in `fields`; absent ones are left alone."""
    clean: dict[str, Any] = {}
    texts = {  # field: (required, length_max)
        "name": (True, name_length_max),
        "id_document_number": (True, code_length_max),
        "address": (False, text_length_max),
        "region": (False, name_length_max),
        "industry": (False, name_length_max),
    }
    for field, (required, length_max) in texts.items():
        if field in fields:
            clean[field] = check.text(field, fields[field], length_max=length_max, required=required)
    for field, enum in {"id_document_type": IdDocumentType, "gender": Gender}.items():
        if field in fields:
            if fields[field] is None and field == "id_document_type":
                check.fail(field, ErrorCode.REQUIRED, f"{field} is required.")
            clean[field] = None if fields[field] is None else enum(fields[field])
    if "phone" in fields:
        clean["phone"] = check.phone("phone", fields["phone"])
    if "email" in fields:
        clean["email"] = check.email("email", fields["email"])
    if "birth_date" in fields:
        clean["birth_date"] = check.past_date("birth_date", fields["birth_date"], clock.today())
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
        raise DomainError(ErrorCode.DUPLICATE, "Another customer has this ID document.", "idDocumentNumber")


async def create_customer(
    session: AsyncSession, principal: Principal, *, branch_id: int | None, kind: str, **fields: Any
) -> Customer:
    actor = require_staff(principal, Permission.CUSTOMER_WRITE)
    check = Checker()
    clean = check_customer_fields(check, fields)
    for required in ("name", "id_document_type", "id_document_number"):
        if required not in fields:
            check.fail(required, ErrorCode.REQUIRED, f"{required} is required.")
    check.raise_if_any()
    branch = await branch_in_scope(session, actor, branch_id, "branchId")
    if clean.get("customer_manager_id") is not None:
        await staff_in_scope(session, actor, clean["customer_manager_id"], "customerManagerId")
    customer = Customer(branch_id=branch.id, kind=CustomerKind(kind), **clean)
    await _check_document_free(session, customer)
    session.add(customer)
    await session.flush()
    return customer


async def update_customer(session: AsyncSession, principal: Principal, *, id: int | None, **fields: Any) -> Customer:
    actor = require_staff(principal, Permission.CUSTOMER_WRITE)
    check = Checker()
    clean = check_customer_fields(check, fields)
    check.raise_if_any()
    customer = await customer_in_scope(session, actor, id, "id")
    if clean.get("customer_manager_id") is not None:
        await staff_in_scope(session, actor, clean["customer_manager_id"], "customerManagerId")
    await apply_customer_changes(session, customer, clean)
    return customer


async def apply_customer_changes(session: AsyncSession, customer: Customer, clean: dict[str, Any]) -> None:
    for field, value in clean.items():
        setattr(customer, field, value)
    if "id_document_type" in clean or "id_document_number" in clean:
        await _check_document_free(session, customer)
    customer.updated_at = clock.now()
    await session.flush()


async def customer_in_scope(
    session: AsyncSession, actor: StaffPrincipal, customer_id: int | None, field: str, *, lock: bool = False
) -> Customer:
    return await locked_in_scope(session, actor, Customer, customer_id, field, "customer", lock=lock)


async def set_credit_level(
    session: AsyncSession, principal: Principal, *, customer_id: int | None, level: str, reason: str
) -> Customer:
    actor = require_staff(principal, Permission.CREDIT_LEVEL_SET)
    check = Checker()
    reason = check.text("reason", reason, length_max=note_length_max, required=True)
    check.raise_if_any()
    customer = await customer_in_scope(session, actor, customer_id, "customerId", lock=True)
    new_level = CreditLevel(level)
    if customer.credit_level == new_level:
        raise DomainError(ErrorCode.INVALID_STATE, f"The credit level is {new_level} already.", "level")
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
    customer.updated_at = clock.now()
    await session.flush()
    return customer


async def create_account(
    session: AsyncSession,
    principal: Principal,
    *,
    customer_id: int | None,
    account_number: str,
    credit_limit_fen: int,
    opened_on: date | None,
    subscriber_numbers: list[str],
) -> Account:
    actor = require_staff(principal, Permission.CUSTOMER_WRITE)
    check = Checker()
    account_number = check.number("accountNumber", account_number)
    check.integer("creditLimitFen", credit_limit_fen, minimum=0, maximum=money_fen_max)
    if len(subscriber_numbers) > subscriber_numbers_per_account_max:
        check.fail("subscriberNumbers", ErrorCode.OUT_OF_RANGE, "Too many subscriber numbers for one account.")
    numbers = [check.number("subscriberNumbers", n) for n in subscriber_numbers[:subscriber_numbers_per_account_max]]
    if len(set(numbers)) != len(numbers):
        check.fail("subscriberNumbers", ErrorCode.DUPLICATE, "A subscriber number is listed twice.")
    check.raise_if_any()
    customer = await customer_in_scope(session, actor, customer_id, "customerId")
    if await session.scalar(sa.select(Account.id).where(Account.account_number == account_number)) is not None:
        raise DomainError(ErrorCode.DUPLICATE, f"Account {account_number} exists already.", "accountNumber")
    taken = (
        await session.scalars(sa.select(SubscriberNumber.number).where(SubscriberNumber.number.in_(numbers)))
    ).all()
    if taken:
        raise DomainError(
            ErrorCode.DUPLICATE, f"Subscriber numbers in use: {', '.join(sorted(taken))}.", "subscriberNumbers"
        )
    opened_on = opened_on or clock.today()
    account = Account(
        customer_id=customer.id, account_number=account_number, credit_limit_fen=credit_limit_fen, opened_on=opened_on
    )
    session.add(account)
    await session.flush()
    session.add_all(
        SubscriberNumber(number=n, account_id=account.id, customer_id=customer.id, activated_on=opened_on)
        for n in numbers
    )
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
    query = sa.select(Customer).where(Customer.branch_id.in_(subtree_branch_ids(actor.branch_path)))
    if branch_id is not None:
        root = await session.get(Branch, branch_id)
        query = query.where(Customer.branch_id.in_(subtree_branch_ids(root.path if root else "-")))
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
        Customer.id_document_number == text,
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


async def get_customers(session: AsyncSession, ids: list[int]) -> list[Customer | None]:
    rows = {c.id: c for c in (await session.scalars(sa.select(Customer).where(Customer.id.in_(ids)))).all()}
    return [rows.get(i) for i in ids]


async def accounts_by_customer(session: AsyncSession, customer_ids: list[int]) -> list[list[Account]]:
    query = sa.select(Account).where(Account.customer_id.in_(customer_ids)).order_by(Account.id)
    grouped: dict[int, list[Account]] = {i: [] for i in customer_ids}
    for account in (await session.scalars(query)).all():
        grouped[account.customer_id].append(account)
    return [grouped[i] for i in customer_ids]


async def subscriber_numbers_by_account(session: AsyncSession, account_ids: list[int]) -> list[list[str]]:
    query = sa.select(SubscriberNumber).where(SubscriberNumber.account_id.in_(account_ids))
    grouped: dict[int, list[str]] = {i: [] for i in account_ids}
    for line in (await session.scalars(query.order_by(SubscriberNumber.number))).all():
        grouped[line.account_id].append(line.number)
    return [grouped[i] for i in account_ids]


async def credit_history(session: AsyncSession, customer_id: int) -> list[CreditLevelChange]:
    query = sa.select(CreditLevelChange).where(CreditLevelChange.customer_id == customer_id)
    return list((await session.scalars(query.order_by(CreditLevelChange.id.desc()).limit(100))).all())
