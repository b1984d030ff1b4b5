"""audit: the append-only audit trail of every mutation of an authenticated caller

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03

`audit_event` gets a row per mutation of a member, a member of staff or a partner key (domain/audit/trail.py):
who, acting for which branch, from which address and request, when, which operation on which objects, and
how it ended. The database refuses every UPDATE, DELETE and TRUNCATE of it, by a statement-level trigger
(so a statement that would touch no row is refused too), and nobody but its owner holds those privileges.
It has two indexes only, its key and a BRIN of the time (a few pages for millions of rows), because every
mutation writes a row.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("principal_kind", sa.Enum("MEMBER", "STAFF", "PARTNER", name="principal_kind", native_enum=False,
                                            create_constraint=True, length=32), nullable=False),
        sa.Column("principal_id", sa.BigInteger(), nullable=False),
        sa.Column("branch_path", sa.String(length=400), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("targets", postgresql.ARRAY(sa.String(length=80)), nullable=False),
        sa.Column("result_id", sa.String(length=80), nullable=True),
        sa.Column("outcome", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )  # fmt: skip
    op.create_index("ix_audit_event_occurred_at", "audit_event", ["occurred_at"], postgresql_using="brin")
    op.execute(
        """CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
               RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
                   USING ERRCODE = 'restrict_violation',
                         HINT = 'Audit events are never changed or removed; nothing was done.';
           END $$"""
    )
    op.execute(
        "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_event "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()"
    )
    # Nobody but the owner (the role that runs the migrations) may even ask; the service's own role, when it is
    # another, is granted INSERT and SELECT only (docs/architecture.md, "The audit trail").
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON audit_event FROM PUBLIC")


def downgrade() -> None:
    op.drop_table("audit_event")  # its trigger goes with it
    op.execute("DROP FUNCTION audit_event_append_only()")
