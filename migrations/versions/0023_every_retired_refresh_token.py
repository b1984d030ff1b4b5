"""every refresh token a session traded away, and failed logins by address

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06

A session kept only the refresh token its current one replaced: a token copied and traded twice by the
thief (R0 → R1 → R2) was no longer known when the owner presented R0, so the session went on for the thief.
The database now keeps every token a session traded away (`retired_refresh_token`, written by a trigger as
the token rotates, so the rotation stays one statement); any of them presented again ends the session.
Their rows go with their session, and `loyalty prune-sessions` removes them once the session has ended.

Failed logins are also counted by address across all logins (one address trying many logins, each attempt
costing a password hash): `ix_login_attempt_address_time`.
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retired_refresh_token",
        sa.Column("token_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["auth_session.id"],
            name=op.f("fk_retired_refresh_token_session_id_auth_session"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_sha256", name=op.f("pk_retired_refresh_token")),
    )
    op.create_index(op.f("ix_retired_refresh_token_session_id"), "retired_refresh_token", ["session_id"])
    op.execute(
        "INSERT INTO retired_refresh_token (token_sha256, session_id) SELECT previous_refresh_token_sha256, id"
        " FROM auth_session WHERE previous_refresh_token_sha256 IS NOT NULL"
    )
    op.drop_index(op.f("ix_auth_session_previous_refresh_token_sha256"), table_name="auth_session")
    op.drop_column("auth_session", "previous_refresh_token_sha256")
    op.execute(
        """CREATE FUNCTION refresh_token_retired() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
               INSERT INTO retired_refresh_token (token_sha256, session_id) VALUES (OLD.refresh_token_sha256, OLD.id);
               RETURN NULL;
           END $$"""
    )
    op.execute(
        "CREATE TRIGGER auth_session_refresh_token_retired AFTER UPDATE OF refresh_token_sha256 ON auth_session"
        " FOR EACH ROW WHEN (OLD.refresh_token_sha256 IS DISTINCT FROM NEW.refresh_token_sha256)"
        " EXECUTE FUNCTION refresh_token_retired()"
    )
    op.create_index("ix_login_attempt_address_time", "login_attempt", ["remote_address", "attempted_at"])


def downgrade() -> None:
    op.drop_index("ix_login_attempt_address_time", table_name="login_attempt")
    op.execute("DROP TRIGGER auth_session_refresh_token_retired ON auth_session")
    op.execute("DROP FUNCTION refresh_token_retired()")
    op.add_column("auth_session", sa.Column("previous_refresh_token_sha256", sa.LargeBinary(length=32), nullable=True))
    op.create_index(
        op.f("ix_auth_session_previous_refresh_token_sha256"), "auth_session", ["previous_refresh_token_sha256"]
    )
    op.execute(
        "UPDATE auth_session s SET previous_refresh_token_sha256 = r.token_sha256 FROM (SELECT DISTINCT ON"
        " (session_id) session_id, token_sha256 FROM retired_refresh_token ORDER BY session_id, retired_at DESC)"
        " r WHERE r.session_id = s.id"
    )
    op.drop_index(op.f("ix_retired_refresh_token_session_id"), table_name="retired_refresh_token")
    op.drop_table("retired_refresh_token")
