"""Customers, their accounts and credit levels."""

from __future__ import annotations

from resolvers.area import Area
from resolvers.customers.fields import CustomerMutation, CustomerQuery
from resolvers.customers.loaders import loaders

area = Area("customers", query=CustomerQuery, mutation=CustomerMutation, loaders=loaders)
