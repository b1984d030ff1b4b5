"""The tables and enums of auth."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.columns import created_at_column, enum_type, foreign_key, id_column, timestamp_column


class PrincipalKind(StrEnum):
    MEMBER = "MEMBER"
    STAFF = "STAFF"
    PARTNER = "PARTNER"
    OPERATOR = "OPERATOR"  # someone at the host's command line (`loyalty create-staff`): in the audit trail only


class AuthSession(SQLModel, table=True):
    """One login: its refresh token rotates; access tokens name the session."""

    __tablename__ = "auth_session"
    __table_args__ = (sa.CheckConstraint("(member_id IS NULL) <> (staff_id IS NULL)", name="one_principal"),)
    id: int | None = id_column()
    member_id: int | None = foreign_key("member.id", nullable=True)
    staff_id: int | None = foreign_key("staff.id", nullable=True)
    refresh_token_sha256: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False, unique=True))
    created_at: datetime | None = created_at_column()
    expires_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    revoked_at: datetime | None = timestamp_column()


class RetiredRefreshToken(SQLModel, table=True):
    """Every refresh token a session traded away (kept by the database as it rotates): presented again, it
    was copied, and the whole session ends. Pruned once the session has ended (`loyalty prune-sessions`)."""

    __tablename__ = "retired_refresh_token"
    token_sha256: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), primary_key=True))
    session_id: int = Field(
        sa_column=sa.Column(
            sa.BigInteger, sa.ForeignKey("auth_session.id", ondelete="CASCADE"), nullable=False, index=True
        )  # fmt: skip
    )
    retired_at: datetime | None = created_at_column()


class LoginAttempt(SQLModel, table=True):
    __tablename__ = "login_attempt"
    __table_args__ = (
        # the throttle's reads: the attempts it did not refuse itself (a flood of those costs nothing to send)
        sa.Index(
            "ix_login_attempt_kind_login_time",
            "kind",
            "login",
            "attempted_at",
            postgresql_where=sa.text("reason <> 'THROTTLED'"),
        ),
        sa.Index(
            "ix_login_attempt_address_time",
            "remote_address",
            "attempted_at",
            postgresql_where=sa.text("reason <> 'THROTTLED'"),
        ),
    )
    id: int | None = id_column()
    kind: PrincipalKind = Field(sa_column=sa.Column(enum_type(PrincipalKind, "kind"), nullable=False))
    login: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    member_id: int | None = foreign_key("member.id", nullable=True)
    staff_id: int | None = foreign_key("staff.id", nullable=True)
    succeeded: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    reason: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    remote_address: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True))
    attempted_at: datetime | None = created_at_column()
