"""Customers, billing accounts and credit history as GraphQL types."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from domain.access import Permission, role_grants
from domain.customers import tables as customers_tables
from domain.customers.service import accounts_listed_max, subscriber_numbers_per_account_max
from domain.paging import listed_max
from schema.common import (
    AccountStatus,
    CreditLevel,
    CustomerKind,
    Gender,
    IdDocumentType,
    Importance,
    UserError,
    client_keys,
    joined,
    listed,
    node_keys,
    row_type,
)
from schema.organisation import BranchType, StaffType

if TYPE_CHECKING:
    from schema.grades import CustomerImportanceChangeType


@strawberry.type(name="Account", description="A billing account [O3]; bills arrive from the billing system.")
class AccountType(relay.Node):
    id: relay.NodeID[int]
    account_number: str
    status: AccountStatus
    credit_limit_fen: int = strawberry.field(description="Credit limit in fen (CNY minor unit).")
    opened_on: date
    is_type_of = row_type(customers_tables.Account)

    @strawberry.field(description="Subscriber (phone) numbers billed to this account.",
                      metadata=listed(subscriber_numbers_per_account_max))  # fmt: skip
    @joined("subscriber_numbers_by_account", "id")
    def subscriber_numbers(self, info: strawberry.Info) -> list[str]: ...

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.accounts_scoped.load_many(node_keys(node_ids))


@strawberry.type(name="CreditLevelChange")
class CreditLevelChangeType:
    level_before: CreditLevel
    level_after: CreditLevel
    reason: str
    changed_at: datetime

    @strawberry.field
    @joined("staff", "staff_id")
    def changed_by(self, info: strawberry.Info) -> StaffType | None: ...


@strawberry.type(name="IdentityChange", description="Name and ID document before and after a change by staff.")
class IdentityChangeType:
    before: JSON = strawberry.field(resolver=lambda root: client_keys(root.before))
    after: JSON = strawberry.field(resolver=lambda root: client_keys(root.after))
    changed_at: datetime

    @strawberry.field
    @joined("staff", "staff_id")
    def changed_by(self, info: strawberry.Info) -> StaffType | None: ...


@strawberry.type(name="Customer", description="An individual or enterprise customer [O2].")
class CustomerType(relay.Node):
    id: relay.NodeID[int]
    kind: CustomerKind
    name: str
    id_document_type: IdDocumentType
    id_document_number: str
    gender: Gender | None
    birth_date: date | None
    phone: str | None
    email: str | None
    address: str | None
    region: str | None
    industry: str | None
    credit_level: CreditLevel
    importance: Importance = strawberry.field(
        description="How important the customer is to the operator; grade rules may ask for it [G3]."
    )
    is_type_of = row_type(customers_tables.Customer)

    @strawberry.field
    @joined("branches", "branch_id")
    def branch(self, info: strawberry.Info) -> BranchType: ...

    @strawberry.field
    @joined("staff", "customer_manager_id")
    def customer_manager(self, info: strawberry.Info) -> StaffType | None: ...

    @strawberry.field(description="The customer's billing accounts (the 50 opened last), oldest first.",
                      metadata=listed(accounts_listed_max))  # fmt: skip
    @joined("accounts_by_customer", "id")
    def accounts(self, info: strawberry.Info) -> list[AccountType]: ...

    @strawberry.field(
        description="The last 100 changes of name or ID document, newest first, with who made them (staff only).",
        metadata=listed(listed_max),
    )
    async def identity_changes(self, info: strawberry.Info) -> list[IdentityChangeType]:
        return await _staff_reading(info, info.context.loaders.identity_changes, self.id)

    @strawberry.field(description="The last 100 changes of credit level, newest first (staff only).",
                      metadata=listed(listed_max))  # fmt: skip
    async def credit_history(self, info: strawberry.Info) -> list[CreditLevelChangeType]:
        return await _staff_reading(info, info.context.loaders.credit_history, self.id)

    @strawberry.field(description="The last 100 changes of importance, oldest first, with who and why (staff"
                      " only).", metadata=listed(listed_max))  # fmt: skip
    async def importance_history(
        self, info: strawberry.Info
    ) -> list[Annotated[CustomerImportanceChangeType, strawberry.lazy("schema.grades")]]:
        return await _staff_reading(info, info.context.loaders.importance_changes, self.id)

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.customers_scoped.load_many(node_keys(node_ids))


async def _staff_reading(info: strawberry.Info, loader: DataLoader, customer_id: int) -> list[Any]:
    """A customer's history, for staff who read customers; none for anyone else, as for every history (a member's
    front end asking with them keeps the rest of its answer)."""
    if not role_grants(info.context.principal, Permission.CUSTOMER_READ):
        return []
    return await loader.load(customer_id)


# --- inputs and payloads ------------------------------------------------------------------


@strawberry.input
class CreateCustomerInput:
    branch_id: relay.GlobalID
    kind: CustomerKind
    name: str
    id_document_type: IdDocumentType
    id_document_number: str
    gender: Gender | None = strawberry.UNSET
    birth_date: date | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    address: str | None = strawberry.UNSET
    region: str | None = strawberry.UNSET
    industry: str | None = strawberry.UNSET
    customer_manager_id: relay.GlobalID | None = strawberry.UNSET


@strawberry.input(
    description="Only the fields given are changed; null clears an optional field. A change of name or ID document"
    " is made after checking the document, and recorded (`Customer.identityChanges`)."
)
class UpdateCustomerInput:
    id: relay.GlobalID
    name: str | None = strawberry.UNSET
    id_document_type: IdDocumentType | None = strawberry.UNSET
    id_document_number: str | None = strawberry.UNSET
    gender: Gender | None = strawberry.UNSET
    birth_date: date | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    address: str | None = strawberry.UNSET
    region: str | None = strawberry.UNSET
    industry: str | None = strawberry.UNSET
    customer_manager_id: relay.GlobalID | None = strawberry.UNSET


@strawberry.type
class CustomerPayload:
    errors: list[UserError]
    customer: CustomerType | None = None


@strawberry.input
class SetCreditLevelInput:
    customer_id: relay.GlobalID
    level: CreditLevel
    reason: str = strawberry.field(description="Why; kept in the credit history (max 500).")


@strawberry.input
class CreateAccountInput:
    customer_id: relay.GlobalID
    account_number: str = strawberry.field(description="5 to 20 digits, unique.")
    credit_limit_fen: int = 0
    opened_on: date | None = None
    subscriber_numbers: list[str] = strawberry.field(default_factory=list, description="At most 20.")


@strawberry.input(
    description="Only what is given changes. Closing an account is for good, and ends its lines: its subscriber"
    " numbers are taken off it (members no longer log in with them; another account may take them)."
)
class UpdateAccountInput:
    id: relay.GlobalID
    status: AccountStatus | None = strawberry.UNSET
    credit_limit_fen: int | None = strawberry.UNSET
    add_subscriber_numbers: list[str] = strawberry.field(
        default_factory=list, description="Billed to the account from today; an account holds at most 20."
    )
    remove_subscriber_numbers: list[str] = strawberry.field(default_factory=list)


@strawberry.type
class AccountPayload:
    errors: list[UserError]
    account: AccountType | None = None


@strawberry.input
class CustomerFilter:
    branch_id: relay.GlobalID | None = strawberry.field(default=None, description="This branch and below.")
    credit_level: CreditLevel | None = None
    kind: CustomerKind | None = None
    search: str | None = strawberry.field(
        default=None, description="Phone, ID document or subscriber number (exact), or part of the name."
    )
