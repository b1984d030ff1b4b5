"""The database tables of the foundation: organisation, people, clubs, authentication.

Alembic migrations own the DDL; a test proves these models and `upgrade head` agree.
Member-scoped rows carry `member_id` so the ledger tables of later areas can be
distributed by member.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class BranchLevel(StrEnum):
    HQ = "HQ"
    PROVINCE = "PROVINCE"
    CITY = "CITY"


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


class MemberStatus(StrEnum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    ENDED = "ENDED"


class StaffRole(StrEnum):
    ADMINISTRATOR = "ADMINISTRATOR"
    CLUB_OPERATOR = "CLUB_OPERATOR"
    CUSTOMER_MANAGER = "CUSTOMER_MANAGER"
    AGENT = "AGENT"
    SETTLEMENT_CLERK = "SETTLEMENT_CLERK"
    AUDITOR = "AUDITOR"


class PrincipalKind(StrEnum):
    MEMBER = "MEMBER"
    STAFF = "STAFF"
    PARTNER = "PARTNER"


def _enum(enum: type[StrEnum], column: str) -> sa.Enum:
    return sa.Enum(
        enum,
        name=column,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
    )


def _id() -> Any:
    return Field(default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True))


def _fk(target: str, *, nullable: bool = False, index: bool = True) -> Any:
    return Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.ForeignKey(target), nullable=nullable, index=index),
    )


def _reference(*, nullable: bool = False, index: bool = False) -> Any:
    """A reference checked once per inserting statement instead of per row (see migration 0006)."""
    return Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=nullable, index=index))


def _created_at() -> Any:
    return Field(
        default=None,
        sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def _timestamp(*, nullable: bool = True) -> Any:
    return Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=nullable))


class Branch(SQLModel, table=True):
    __tablename__ = "branch"
    id: int | None = _id()
    code: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, unique=True))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    level: BranchLevel = Field(sa_column=sa.Column(_enum(BranchLevel, "level"), nullable=False))
    parent_id: int | None = _fk("branch.id", nullable=True)
    # "/1/4/9/": ancestors and self; a subtree is every path that starts with its root's path.
    path: str = Field(sa_column=sa.Column(sa.String(400), nullable=False, unique=True))
    created_at: datetime | None = _created_at()


class Staff(SQLModel, table=True):
    __tablename__ = "staff"
    id: int | None = _id()
    username: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, unique=True))
    display_name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    role: StaffRole = Field(sa_column=sa.Column(_enum(StaffRole, "role"), nullable=False))
    branch_id: int = _fk("branch.id")
    password_hash: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    failed_login_count: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    locked_until: datetime | None = _timestamp()
    active: bool = Field(default=True, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.true()))
    created_at: datetime | None = _created_at()


class Customer(SQLModel, table=True):
    __tablename__ = "customer"
    __table_args__ = (sa.UniqueConstraint("id_document_type", "id_document_number"),)
    id: int | None = _id()
    branch_id: int = _fk("branch.id")
    kind: CustomerKind = Field(sa_column=sa.Column(_enum(CustomerKind, "kind"), nullable=False))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False, index=True))
    id_document_type: IdDocumentType = Field(
        sa_column=sa.Column(_enum(IdDocumentType, "id_document_type"), nullable=False)
    )
    id_document_number: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    gender: Gender | None = Field(default=None, sa_column=sa.Column(_enum(Gender, "gender"), nullable=True))
    birth_date: date | None = Field(default=None, sa_column=sa.Column(sa.Date, nullable=True))
    phone: str | None = Field(default=None, sa_column=sa.Column(sa.String(24), nullable=True, index=True))
    email: str | None = Field(default=None, sa_column=sa.Column(sa.String(254), nullable=True))
    address: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))
    region: str | None = Field(default=None, sa_column=sa.Column(sa.String(100), nullable=True))
    industry: str | None = Field(default=None, sa_column=sa.Column(sa.String(100), nullable=True))
    customer_manager_id: int | None = _fk("staff.id", nullable=True)
    credit_level: CreditLevel = Field(
        default=CreditLevel.GREY,
        sa_column=sa.Column(_enum(CreditLevel, "credit_level"), nullable=False, server_default=CreditLevel.GREY.value),
    )
    created_at: datetime | None = _created_at()
    updated_at: datetime | None = _created_at()


class CreditLevelChange(SQLModel, table=True):
    __tablename__ = "credit_level_change"
    id: int | None = _id()
    customer_id: int = _fk("customer.id")
    level_before: CreditLevel = Field(sa_column=sa.Column(_enum(CreditLevel, "level_before"), nullable=False))
    level_after: CreditLevel = Field(sa_column=sa.Column(_enum(CreditLevel, "level_after"), nullable=False))
    reason: str = Field(sa_column=sa.Column(sa.String(500), nullable=False))
    staff_id: int = _fk("staff.id")
    changed_at: datetime | None = _created_at()


class Account(SQLModel, table=True):
    __tablename__ = "account"
    __table_args__ = (sa.CheckConstraint("credit_limit_fen >= 0", name="credit_limit_nonnegative"),)
    id: int | None = _id()
    customer_id: int = _fk("customer.id")
    account_number: str = Field(sa_column=sa.Column(sa.String(20), nullable=False, unique=True))
    status: AccountStatus = Field(
        default=AccountStatus.ACTIVE,
        sa_column=sa.Column(_enum(AccountStatus, "status"), nullable=False, server_default=AccountStatus.ACTIVE.value),
    )
    credit_limit_fen: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    opened_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    created_at: datetime | None = _created_at()


class SubscriberNumber(SQLModel, table=True):
    """A customer's phone line, billed to one account; members may log in with it."""

    __tablename__ = "subscriber_number"
    number: str = Field(sa_column=sa.Column(sa.String(20), primary_key=True))
    account_id: int = _fk("account.id")
    customer_id: int = _fk("customer.id")
    activated_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))


class Club(SQLModel, table=True):
    __tablename__ = "club"
    id: int | None = _id()
    branch_id: int = _fk("branch.id")
    code: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, unique=True))
    category: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    contact_person: str | None = Field(default=None, sa_column=sa.Column(sa.String(100), nullable=True))
    phone: str | None = Field(default=None, sa_column=sa.Column(sa.String(24), nullable=True))
    email: str | None = Field(default=None, sa_column=sa.Column(sa.String(254), nullable=True))
    address: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))
    created_at: datetime | None = _created_at()


class Grade(SQLModel, table=True):
    """Grades are data [G1]: DIAMOND, EMERALD, SAPPHIRE are seeded, more can be added."""

    __tablename__ = "grade"
    code: str = Field(sa_column=sa.Column(sa.String(32), primary_key=True))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    rank: int = Field(sa_column=sa.Column(sa.Integer, nullable=False, unique=True))
    card_type: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    national_roaming: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))


class Member(SQLModel, table=True):
    __tablename__ = "member"
    id: int | None = _id()
    member_number: str = Field(sa_column=sa.Column(sa.String(20), nullable=False, unique=True))
    customer_id: int = Field(
        sa_column=sa.Column(sa.BigInteger, sa.ForeignKey("customer.id"), nullable=False, unique=True)
    )
    club_id: int = _fk("club.id")
    # The club's branch, kept here so staff scope filters need no join.
    branch_id: int = _fk("branch.id")
    grade_code: str = Field(sa_column=sa.Column(sa.String(32), sa.ForeignKey("grade.code"), nullable=False, index=True))
    status: MemberStatus = Field(
        default=MemberStatus.ACTIVE,
        sa_column=sa.Column(
            _enum(MemberStatus, "status"), nullable=False, server_default=MemberStatus.ACTIVE.value, index=True
        ),
    )
    joined_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    valid_until: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    customer_manager_id: int | None = _fk("staff.id", nullable=True)
    interests: list[str] = Field(
        default_factory=list, sa_column=sa.Column(JSONB, nullable=False, server_default=sa.text("'[]'::jsonb"))
    )
    relations: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=sa.Column(JSONB, nullable=False, server_default=sa.text("'[]'::jsonb"))
    )
    password_hash: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))
    failed_login_count: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    locked_until: datetime | None = _timestamp()
    created_at: datetime | None = _created_at()
    updated_at: datetime | None = _created_at()


class Partner(SQLModel, table=True):
    """The minimum of a partner that API clients need; the registry [X1] extends it."""

    __tablename__ = "partner"
    id: int | None = _id()
    code: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, unique=True))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    # The branch that maintains the partner: HQ for national partners.
    branch_id: int = _fk("branch.id")
    created_at: datetime | None = _created_at()


class PartnerApiClient(SQLModel, table=True):
    __tablename__ = "partner_api_client"
    id: int | None = _id()
    partner_id: int = _fk("partner.id")
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    key_id: str = Field(sa_column=sa.Column(sa.String(40), nullable=False, unique=True))
    secret_sha256: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))
    created_by_staff_id: int = _fk("staff.id", index=False)
    created_at: datetime | None = _created_at()
    revoked_at: datetime | None = _timestamp()


class AuthSession(SQLModel, table=True):
    """One login: its refresh token rotates; access tokens name the session."""

    __tablename__ = "auth_session"
    __table_args__ = (sa.CheckConstraint("(member_id IS NULL) <> (staff_id IS NULL)", name="one_principal"),)
    id: int | None = _id()
    member_id: int | None = _fk("member.id", nullable=True)
    staff_id: int | None = _fk("staff.id", nullable=True)
    refresh_token_sha256: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False, unique=True))
    created_at: datetime | None = _created_at()
    expires_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    revoked_at: datetime | None = _timestamp()


class LoginAttempt(SQLModel, table=True):
    __tablename__ = "login_attempt"
    id: int | None = _id()
    kind: PrincipalKind = Field(sa_column=sa.Column(_enum(PrincipalKind, "kind"), nullable=False))
    login: str = Field(sa_column=sa.Column(sa.String(100), nullable=False, index=True))
    member_id: int | None = _fk("member.id", nullable=True)
    staff_id: int | None = _fk("staff.id", nullable=True)
    succeeded: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    reason: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    remote_address: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True))
    attempted_at: datetime | None = _created_at()


# --- membership cards [K1]–[K5] --------------------------------------------------------------


class CardState(StrEnum):
    # In stock, held by a branch (and possibly a club or customer manager).
    INITIAL = "INITIAL"
    ISSUED = "ISSUED"
    RETURNED = "RETURNED"
    VOID = "VOID"
    # Given to a member.
    ACTIVE = "ACTIVE"
    LOST = "LOST"
    RETIRED = "RETIRED"  # replaced or reissued: never usable again
    CANCELLED = "CANCELLED"


STOCK_STATES = (CardState.INITIAL, CardState.ISSUED, CardState.RETURNED)
USABLE_STATES = (CardState.ACTIVE, CardState.LOST)


class CardAction(StrEnum):
    ISSUE = "ISSUE"
    TRANSFER = "TRANSFER"
    RETURN = "RETURN"
    VOID = "VOID"
    SET_STATE = "SET_STATE"
    HAND_OVER = "HAND_OVER"
    REPORT_LOST = "REPORT_LOST"
    UNFREEZE = "UNFREEZE"
    REISSUE = "REISSUE"
    REPLACE = "REPLACE"
    CANCEL = "CANCEL"
    CHANGE_PIN = "CHANGE_PIN"
    RESET_PIN = "RESET_PIN"
    PROOF_FAILED = "PROOF_FAILED"


class Channel(StrEnum):
    COUNTER = "COUNTER"
    HOTLINE = "HOTLINE"
    SELF_SERVICE = "SELF_SERVICE"
    WAP = "WAP"
    SYSTEM = "SYSTEM"


class ApplicationStatus(StrEnum):
    REQUESTED = "REQUESTED"
    APPROVED = "APPROVED"
    FULFILLED = "FULFILLED"


class CardBatch(SQLModel, table=True):
    """Cards received from the card maker or HQ into a branch's stock, as one record [K1]."""

    __tablename__ = "card_batch"
    id: int | None = _id()
    branch_id: int = _fk("branch.id")
    card_type: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    valid_until: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    card_count: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    first_number: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    last_number: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    source: str | None = Field(default=None, sa_column=sa.Column(sa.String(100), nullable=True))
    staff_id: int = _fk("staff.id", index=False)
    received_at: datetime | None = _created_at()


class Card(SQLModel, table=True):
    __tablename__ = "card"
    __table_args__ = (
        sa.Index("ix_card_stock", "branch_id", "state", "card_type"),
        # Stock cards have no member: index only members' cards, so receiving stock stays cheap.
        sa.Index("ix_card_member", "member_id", postgresql_where=sa.text("member_id IS NOT NULL")),
        # A member holds at most one usable card [K5].
        sa.Index(
            "uq_card_usable_per_member",
            "member_id",
            unique=True,
            postgresql_where=sa.text("state IN ('ACTIVE', 'LOST')"),
        ),
        sa.CheckConstraint("failed_attempt_count >= 0", name="failed_attempts_nonnegative"),
    )
    number: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    card_type: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    state: CardState = Field(sa_column=sa.Column(_enum(CardState, "state"), nullable=False))
    valid_until: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    batch_id: int = _fk("card_batch.id", index=False)
    # The branch whose stock holds the card; for a member's card, the member's branch.
    branch_id: int = Field(sa_column=sa.Column(sa.BigInteger, sa.ForeignKey("branch.id"), nullable=False))
    holder_club_id: int | None = _fk("club.id", nullable=True, index=False)
    holder_staff_id: int | None = _fk("staff.id", nullable=True, index=False)
    member_id: int | None = _fk("member.id", nullable=True, index=False)
    pin_hash: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))
    failed_attempt_count: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    locked_until: datetime | None = _timestamp()
    replaces_number: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))
    replaced_by_number: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))
    updated_at: datetime | None = _created_at()


class CardEvent(SQLModel, table=True):
    """Every operation on a card: who, when, channel, what, why [K4]."""

    __tablename__ = "card_event"
    __table_args__ = (sa.Index("ix_card_event_branch_time", "branch_id", "occurred_at"),)
    id: int | None = _id()
    card_number: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False, index=True))
    card_type: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    action: CardAction = Field(sa_column=sa.Column(_enum(CardAction, "action"), nullable=False))
    state_before: CardState = Field(sa_column=sa.Column(_enum(CardState, "state_before"), nullable=False))
    state_after: CardState = Field(sa_column=sa.Column(_enum(CardState, "state_after"), nullable=False))
    # The branch holding the card before the operation: stock counts group by it.
    branch_id: int = Field(sa_column=sa.Column(sa.BigInteger, sa.ForeignKey("branch.id"), nullable=False))
    member_id: int | None = _fk("member.id", nullable=True)
    staff_id: int | None = _fk("staff.id", nullable=True, index=False)
    channel: Channel = Field(sa_column=sa.Column(_enum(Channel, "channel"), nullable=False))
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.String(500), nullable=True))
    detail: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))
    )
    occurred_at: datetime | None = _created_at()


class CardApplication(SQLModel, table=True):
    """A member's request for a card, with an optional pick-up booking [K4]."""

    __tablename__ = "card_application"
    __table_args__ = (
        sa.Index(
            "uq_card_application_open", "member_id", unique=True, postgresql_where=sa.text("status <> 'FULFILLED'")
        ),
    )
    id: int | None = _id()
    member_id: int = _fk("member.id", index=False)
    status: ApplicationStatus = Field(sa_column=sa.Column(_enum(ApplicationStatus, "status"), nullable=False))
    pickup_at: datetime | None = _timestamp()
    pickup_place: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))
    requested_by_staff_id: int | None = _fk("staff.id", nullable=True, index=False)
    approved_by_staff_id: int | None = _fk("staff.id", nullable=True, index=False)
    card_number: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))
    created_at: datetime | None = _created_at()


class IdempotencyRecord(SQLModel, table=True):
    """A replayed request with the same key returns the stored result; another request is refused."""

    __tablename__ = "idempotency_record"
    scope: str = Field(sa_column=sa.Column(sa.String(100), primary_key=True))
    key: str = Field(sa_column=sa.Column(sa.String(100), primary_key=True))
    request_sha256: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))
    result: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    created_at: datetime | None = _created_at()


# --- points ledger [P1]–[P7] -------------------------------------------------------------------


class EntryType(StrEnum):
    """What a movement of a member's points is, as members and reports see it [P1]."""

    CONSUMPTION = "CONSUMPTION"
    BONUS_TENURE = "BONUS_TENURE"
    BONUS_ON_TIME = "BONUS_ON_TIME"
    BONUS_PROMOTION = "BONUS_PROMOTION"
    BONUS_ACTIVITY = "BONUS_ACTIVITY"
    PENALTY = "PENALTY"
    PARTNER_EXCHANGE_IN = "PARTNER_EXCHANGE_IN"
    SURVEY = "SURVEY"
    REFERRAL = "REFERRAL"
    ADJUSTMENT = "ADJUSTMENT"
    REDEMPTION = "REDEMPTION"
    EXPIRY = "EXPIRY"
    REVERSAL = "REVERSAL"


class SystemAccount(StrEnum):
    """The club's side of every movement; their balances are sums over the journal, never a hot row."""

    ISSUANCE = "ISSUANCE"
    BREAKAGE = "BREAKAGE"
    REDEMPTION = "REDEMPTION"
    PARTNER_CLEARING = "PARTNER_CLEARING"
    ADJUSTMENT = "ADJUSTMENT"


class RuleKind(StrEnum):
    POINTS_PER_YUAN = "POINTS_PER_YUAN"
    GRADE_MULTIPLIER = "GRADE_MULTIPLIER"
    TENURE_BONUS_PER_YEAR = "TENURE_BONUS_PER_YEAR"
    ON_TIME_BONUS = "ON_TIME_BONUS"
    LATE_PENALTY_PERCENT = "LATE_PENALTY_PERCENT"
    EXPIRY_YEAR_END_AFTER_YEARS = "EXPIRY_YEAR_END_AFTER_YEARS"
    EXPIRY_AFTER_MONTHS = "EXPIRY_AFTER_MONTHS"


class LedgerAccount(SQLModel, table=True):
    __tablename__ = "ledger_account"
    code: SystemAccount = Field(sa_column=sa.Column(_enum(SystemAccount, "code"), primary_key=True))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))


class PointsBalance(SQLModel, table=True):
    """A member's points account: posted minus held is what the member may spend."""

    __tablename__ = "points_balance"
    __table_args__ = (
        sa.CheckConstraint("held >= 0", name="held_nonnegative"),
        sa.CheckConstraint("posted - held >= 0", name="available_nonnegative"),
    )
    member_id: int = Field(sa_column=sa.Column(sa.BigInteger, sa.ForeignKey("member.id"), primary_key=True))
    posted: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    held: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    updated_at: datetime | None = _created_at()


class LedgerTransaction(SQLModel, table=True):
    """One business event: `points` move between the member and a system account.

    Double entry by construction, as a transfer: the member's side is `points`, the system
    account's side is `-points`, so every transaction sums to zero. Never updated or deleted
    (the database refuses). References to members, lots and bills are checked per statement.
    """

    __tablename__ = "ledger_transaction"
    __table_args__ = (
        sa.CheckConstraint("points <> 0", name="points_nonzero"),
        sa.Index(
            "uq_ledger_transaction_reverses_id",
            "reverses_id",
            unique=True,
            postgresql_where=sa.text("reverses_id IS NOT NULL"),
        ),
    )
    id: int | None = _id()
    member_id: int = _reference(index=True)
    entry_type: EntryType = Field(sa_column=sa.Column(_enum(EntryType, "entry_type"), nullable=False))
    account: SystemAccount = Field(sa_column=sa.Column(_enum(SystemAccount, "account"), nullable=False))
    points: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))  # the member's side, signed
    effective_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.String(500), nullable=True))
    staff_id: int | None = _reference(nullable=True)
    reverses_id: int | None = _reference(nullable=True)
    lot_id: int | None = _reference(nullable=True)  # the lot a credit filled
    bill_id: int | None = _reference(nullable=True)  # the bill that earned it
    created_at: datetime | None = _created_at()


class PointsLot(SQLModel, table=True):
    """Points earned together, expiring together; spending takes the soonest-expiring first.

    The credits that filled a lot name it (`LedgerTransaction.lot_id`); what happened to it
    since is in its movements, so `remaining = amount + sum(movements)`.
    """

    __tablename__ = "points_lot"
    __table_args__ = (
        sa.CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining_within_amount"),
        sa.Index("ix_points_lot_spendable", "member_id", "expires_on", "id", postgresql_where=sa.text("remaining > 0")),
    )
    id: int | None = _id()
    member_id: int = _reference()
    amount: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    remaining: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    earned_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    expires_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))


class LotMovement(SQLModel, table=True):
    """A draw on a lot, or a restore by a reversal: which lots a transaction used, so a reversal
    restores exactly those lots."""

    __tablename__ = "lot_movement"
    id: int | None = _id()
    lot_id: int = _fk("points_lot.id")
    transaction_id: int = _fk("ledger_transaction.id")
    amount: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))


class PointsRule(SQLModel, table=True):
    """Earning, validity and penalty rules as data with effective dates [P2]."""

    __tablename__ = "points_rule"
    id: int | None = _id()
    kind: RuleKind = Field(sa_column=sa.Column(_enum(RuleKind, "kind"), nullable=False))
    grade_code: str | None = Field(
        default=None, sa_column=sa.Column(sa.String(32), sa.ForeignKey("grade.code"), nullable=True)
    )
    value: Decimal = Field(sa_column=sa.Column(sa.Numeric(12, 4), nullable=False))
    effective_from: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    effective_to: date | None = Field(default=None, sa_column=sa.Column(sa.Date, nullable=True))
    created_at: datetime | None = _created_at()


class PointsRuleChange(SQLModel, table=True):
    __tablename__ = "points_rule_change"
    id: int | None = _id()
    rule_id: int = _fk("points_rule.id")
    action: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    before: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONB, nullable=True))
    after: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    staff_id: int = _fk("staff.id", index=False)
    changed_at: datetime | None = _created_at()


class Bill(SQLModel, table=True):
    """A month's bill of a billing account, as the billing system reports it [O3]."""

    __tablename__ = "bill"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "billing_month"),
        sa.CheckConstraint("amount_billed_fen >= 0 AND amount_paid_fen >= 0", name="amounts_nonnegative"),
        sa.CheckConstraint("extract(day FROM billing_month) = 1", name="month_starts_on_day_one"),
        sa.Index("ix_bill_month", "billing_month", "id"),
    )
    id: int | None = _id()
    account_id: int = _fk("account.id", index=False)
    billing_month: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    amount_billed_fen: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    amount_paid_fen: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    due_date: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    paid_date: date | None = Field(default=None, sa_column=sa.Column(sa.Date, nullable=True))
    imported_at: datetime | None = _created_at()


class Accrual(SQLModel, table=True):
    """A bill whose points were computed: written with the ledger entries, so a bill earns once."""

    __tablename__ = "accrual"
    bill_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))  # checked per statement
    member_id: int | None = _reference(nullable=True)
    points: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    accrued_at: datetime | None = _created_at()


class AccrualRunStatus(StrEnum):
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"  # stopped on an error; a new run resumes where it stopped
    INTERRUPTED = "INTERRUPTED"  # the process running it stopped; a new run resumes where it stopped


class MonthlyAccrualRun(SQLModel, table=True):
    """One run of the monthly calculation [P3]: who started it, how far it got, what it earned."""

    __tablename__ = "monthly_accrual_run"
    __table_args__ = (sa.Index("ix_monthly_accrual_run_month", "month", "id"),)
    id: int | None = _id()
    month: date = Field(sa_column=sa.Column(sa.Date, nullable=False))  # its first day
    status: AccrualRunStatus = Field(
        default=AccrualRunStatus.RUNNING,
        sa_column=sa.Column(_enum(AccrualRunStatus, "status"), nullable=False, server_default="RUNNING"),
    )
    staff_id: int | None = _fk("staff.id", nullable=True, index=False)  # none: started from the command line
    bills_total: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))  # still to earn when it started
    bills: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    members: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    points: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    penalties: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    error: str | None = Field(default=None, sa_column=sa.Column(sa.String(500), nullable=True))
    started_at: datetime | None = _created_at()
    finished_at: datetime | None = _timestamp()


class NotificationChannel(StrEnum):
    SMS = "SMS"
    EMAIL = "EMAIL"
    CALLBACK = "CALLBACK"  # the customer manager calls the member back


class NotificationStatus(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"


class Notification(SQLModel, table=True):
    """The outbox: a message to a member, written with the event that caused it, sent later."""

    __tablename__ = "notification"
    __table_args__ = (sa.Index("ix_notification_pending", "due_at", postgresql_where=sa.text("status = 'PENDING'")),)
    id: int | None = _id()
    member_id: int = _fk("member.id")
    channel: NotificationChannel = Field(sa_column=sa.Column(_enum(NotificationChannel, "channel"), nullable=False))
    address: str | None = Field(default=None, sa_column=sa.Column(sa.String(254), nullable=True))
    message: str = Field(sa_column=sa.Column(sa.String(500), nullable=False))
    # Makes a warning once-only: e.g. one per member and expiry date.
    dedupe_key: str = Field(sa_column=sa.Column(sa.String(100), nullable=False, unique=True))
    due_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    status: NotificationStatus = Field(
        default=NotificationStatus.PENDING,
        sa_column=sa.Column(_enum(NotificationStatus, "status"), nullable=False, server_default="PENDING"),
    )
    attempts: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    sent_at: datetime | None = _timestamp()
    created_at: datetime | None = _created_at()


metadata = SQLModel.metadata
