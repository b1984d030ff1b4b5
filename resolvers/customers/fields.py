"""Customers, credit levels and billing accounts."""

from __future__ import annotations

import strawberry
from strawberry import relay

from domain.customers import service as customers
from resolvers.declare import list_field, mutation_field
from resolvers.edge import node_of
from schema.customers import (
    AccountPayload,
    CreateAccountInput,
    CreateCustomerInput,
    CustomerFilter,
    CustomerPayload,
    CustomerType,
    SetCreditLevelInput,
    UpdateAccountInput,
    UpdateCustomerInput,
)


@strawberry.type
class CustomerQuery:
    @strawberry.field(description="A customer in your subtree (staff), or null.")
    async def customer(self, info: strawberry.Info, id: relay.GlobalID) -> CustomerType | None:
        return await node_of(info, CustomerType, id)

    customers = list_field(
        customers.list_customers,
        CustomerType,
        CustomerFilter,
        description="Customers in your subtree (staff), oldest first.",
    )


@strawberry.type
class CustomerMutation:
    create_customer = mutation_field(
        customers.create_customer,
        CreateCustomerInput,
        CustomerPayload,
        "customer",
        description="Register a customer in a branch of your subtree.",
    )

    update_customer = mutation_field(
        customers.update_customer,
        UpdateCustomerInput,
        CustomerPayload,
        "customer",
        description="Change a customer's details.",
    )

    set_credit_level = mutation_field(
        customers.set_credit_level,
        SetCreditLevelInput,
        CustomerPayload,
        "customer",
        description="Set a customer's credit level with a reason; the change is kept in history.",
    )

    create_account = mutation_field(
        customers.create_account,
        CreateAccountInput,
        AccountPayload,
        "account",
        description="Open a billing account with its subscriber numbers.",
    )

    update_account = mutation_field(
        customers.update_account,
        UpdateAccountInput,
        AccountPayload,
        "account",
        description="Suspend, reactivate or close a billing account, change its credit limit, add or take off"
        " subscriber numbers.",
    )
