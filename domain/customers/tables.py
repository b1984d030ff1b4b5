"""The tables and enums of customers."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from domain.columns import created_at_column, enum_type, foreign_key, id_column


class CustomerKind(StrEnum):
    INDIVIDUAL = "INDIVIDUAL"
    ENTERPRISE = "ENTERPRISE"


class IdDocumentType(StrEnum):
    ID_CARD = "ID_CARD"
    PASSPORT = "PASSPORT"
    MILITARY_ID = "MILITARY_ID"
    BUSINESS_LICENCE = "BUSINESS_LICENCE"
    OTHER = "OTHER"


class Gender(StrEnum):
    FEMALE = "FEMALE"
    MALE = "MALE"


class CreditLevel(StrEnum):
    RED = "RED"
    GREY = "GREY"
    BLACK = "BLACK"


class AccountStatus(StrEnum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    CLOSED = "CLOSED"


class Importance(StrEnum):
    """How important a customer is to the operator, set by staff [G3]; ordered NORMAL < KEY < VIP."""

    NORMAL = "NORMAL"
    KEY = "KEY"
    VIP = "VIP"


IMPORTANCE_RANK = {Importance.NORMAL: 0, Importance.KEY: 1, Importance.VIP: 2}


class Customer(SQLModel, table=True):
    __tablename__ = "customer"
    __table_args__ = (sa.UniqueConstraint("id_document_type", "id_document_number"),)
    id: int | None = id_column()
    branch_id: int = foreign_key("branch.id")
    kind: CustomerKind = Field(sa_column=sa.Column(enum_type(CustomerKind, "kind"), nullable=False))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False, index=True))
    id_document_type: IdDocumentType = Field(
        sa_column=sa.Column(enum_type(IdDocumentType, "id_document_type"), nullable=False)
    )
    id_document_number: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    gender: Gender | None = Field(default=None, sa_column=sa.Column(enum_type(Gender, "gender"), nullable=True))
    birth_date: date | None = Field(default=None, sa_column=sa.Column(sa.Date, nullable=True))
    phone: str | None = Field(default=None, sa_column=sa.Column(sa.String(24), nullable=True, index=True))
    email: str | None = Field(default=None, sa_column=sa.Column(sa.String(254), nullable=True))
    address: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))
    region: str | None = Field(default=None, sa_column=sa.Column(sa.String(100), nullable=True))
    industry: str | None = Field(default=None, sa_column=sa.Column(sa.String(100), nullable=True))
    customer_manager_id: int | None = foreign_key("staff.id", nullable=True)
    credit_level: CreditLevel = Field(
        default=CreditLevel.GREY,
        sa_column=sa.Column(
            enum_type(CreditLevel, "credit_level"), nullable=False, server_default=CreditLevel.GREY.value
        ),
    )
    importance: Importance = Field(
        default=Importance.NORMAL,
        sa_column=sa.Column(
            enum_type(Importance, "importance"), nullable=False, server_default=Importance.NORMAL.value
        ),
    )
    created_at: datetime | None = created_at_column()
    updated_at: datetime | None = created_at_column()


class CreditLevelChange(SQLModel, table=True):
    __tablename__ = "credit_level_change"
    id: int | None = id_column()
    customer_id: int = foreign_key("customer.id")
    level_before: CreditLevel = Field(sa_column=sa.Column(enum_type(CreditLevel, "level_before"), nullable=False))
    level_after: CreditLevel = Field(sa_column=sa.Column(enum_type(CreditLevel, "level_after"), nullable=False))
    reason: str = Field(sa_column=sa.Column(sa.String(500), nullable=False))
    staff_id: int = foreign_key("staff.id")
    changed_at: datetime | None = created_at_column()


class IdentityChange(SQLModel, table=True):
    """A change of who a customer is (name, ID document), made by staff who checked the document: the
    document is one of the proofs a member gives to report a card lost, so its history is kept."""

    __tablename__ = "identity_change"
    id: int | None = id_column()
    customer_id: int = foreign_key("customer.id")
    before: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    after: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    staff_id: int = foreign_key("staff.id")
    changed_at: datetime | None = created_at_column()


class Account(SQLModel, table=True):
    __tablename__ = "account"
    __table_args__ = (sa.CheckConstraint("credit_limit_fen >= 0", name="credit_limit_nonnegative"),)
    id: int | None = id_column()
    customer_id: int = foreign_key("customer.id")
    account_number: str = Field(sa_column=sa.Column(sa.String(20), nullable=False, unique=True))
    status: AccountStatus = Field(
        default=AccountStatus.ACTIVE,
        sa_column=sa.Column(
            enum_type(AccountStatus, "status"), nullable=False, server_default=AccountStatus.ACTIVE.value
        ),
    )
    credit_limit_fen: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    opened_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    created_at: datetime | None = created_at_column()


class SubscriberNumber(SQLModel, table=True):
    """A customer's phone line, billed to one account; members may log in with it."""

    __tablename__ = "subscriber_number"
    number: str = Field(sa_column=sa.Column(sa.String(20), primary_key=True))
    account_id: int = foreign_key("account.id")
    customer_id: int = foreign_key("customer.id")
    activated_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
