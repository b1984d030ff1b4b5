"""login throttling from the attempts; a refresh token used twice ends its session

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

A login is throttled by its recorded attempts (`login_attempt`): failures from one address make
that address wait, failures from everywhere slow the login down, and neither locks the owner out
(`domain/auth/service.py`). The per-identity failure count and lock that let any stranger lock
any account are dropped; the attempts are read by (kind, login, time). A session keeps the refresh
token its current one replaced: presented again, it was copied, and the session ends.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("auth_session", sa.Column("previous_refresh_token_sha256", sa.LargeBinary(length=32), nullable=True))
    op.create_index(
        op.f("ix_auth_session_previous_refresh_token_sha256"), "auth_session", ["previous_refresh_token_sha256"]
    )
    for table in ("member", "staff"):
        op.drop_column(table, "failed_login_count")
        op.drop_column(table, "locked_until")
    op.create_index("ix_login_attempt_kind_login_time", "login_attempt", ["kind", "login", "attempted_at"])
    op.drop_index(op.f("ix_login_attempt_login"), table_name="login_attempt")


def downgrade() -> None:
    op.drop_index(op.f("ix_auth_session_previous_refresh_token_sha256"), table_name="auth_session")
    op.drop_column("auth_session", "previous_refresh_token_sha256")
    op.create_index(op.f("ix_login_attempt_login"), "login_attempt", ["login"], unique=False)
    op.drop_index("ix_login_attempt_kind_login_time", table_name="login_attempt")
    for table in ("staff", "member"):
        op.add_column(table, sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        op.add_column(table, sa.Column("failed_login_count", sa.Integer(), server_default="0", nullable=False))
