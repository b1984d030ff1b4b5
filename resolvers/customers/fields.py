"""Customers, credit levels and billing accounts."""

from __future__ import annotations

import strawberry
from strawberry import relay

from domain.customers import service as customers
from resolvers.edge import mutate, node_of, paged
from schema.customers import (
    AccountPayload,
    CreateAccountInput,
    CreateCustomerInput,
    CustomerFilter,
    CustomerPayload,
    CustomerType,
    SetCreditLevelInput,
    UpdateCustomerInput,
)


@strawberry.type
class CustomerQuery:
    @strawberry.field(description="A customer in your subtree (staff), or null.")
    async def customer(self, info: strawberry.Info, id: relay.GlobalID) -> CustomerType | None:
        return await node_of(info, CustomerType, id)

    @strawberry.field(description="Customers in your subtree (staff), oldest first.")
    async def customers(
        self,
        info: strawberry.Info,
        filter: CustomerFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> relay.Connection[CustomerType]:
        return await paged(info, customers.list_customers, filter, first, after, last, before)


@strawberry.type
class CustomerMutation:
    @strawberry.mutation(description="Register a customer in a branch of your subtree.")
    async def create_customer(self, info: strawberry.Info, input: CreateCustomerInput) -> CustomerPayload:
        return await mutate(info, CustomerPayload, customers.create_customer, input, "customer")

    @strawberry.mutation(description="Change a customer's details.")
    async def update_customer(self, info: strawberry.Info, input: UpdateCustomerInput) -> CustomerPayload:
        return await mutate(info, CustomerPayload, customers.update_customer, input, "customer")

    @strawberry.mutation(description="Set a customer's credit level with a reason; the change is kept in history.")
    async def set_credit_level(self, info: strawberry.Info, input: SetCreditLevelInput) -> CustomerPayload:
        return await mutate(info, CustomerPayload, customers.set_credit_level, input, "customer")

    @strawberry.mutation(description="Open a billing account with its subscriber numbers.")
    async def create_account(self, info: strawberry.Info, input: CreateAccountInput) -> AccountPayload:
        return await mutate(info, AccountPayload, customers.create_account, input, "account")
