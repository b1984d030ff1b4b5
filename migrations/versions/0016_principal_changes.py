"""principal changes: a notification whenever what authenticates a request changes

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06

Each serving process remembers the principals of the sessions (and partner keys) in use for a few seconds
(domain/auth/principals.py), and forgets one when the channel `loyalty_principals` names a row it was read
from: a session revoked or moved to another person ("s:<id>"), a member whose status or branch changed
("m:<id>"), a staff member whose role, branch or activity changed ("t:<id>"), a partner key revoked or
given another secret ("p:<id>"); a row deleted says the same. A branch whose path changes, a partner moved
to another branch, or a table emptied names everything ("*"). The notifications are sent when the change
commits, and not at all when it rolls back. The triggers fire only when one of the columns named changes
(`UPDATE OF …` and a `WHEN` condition), so the updates that change nothing a principal holds (grades,
profiles, refresh-token rotation) pay nothing.
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# table → (the kind its notification names, the columns a principal is read from)
WATCHED = {
    "auth_session": ("s", ["revoked_at", "member_id", "staff_id"]),
    "member": ("m", ["status", "branch_id"]),
    "staff": ("t", ["role", "branch_id", "active"]),
    "partner_api_client": ("p", ["revoked_at", "secret_sha256", "partner_id", "key_id"]),
    "branch": ("*", ["path"]),
    "partner": ("*", ["branch_id"]),
}


def upgrade() -> None:
    op.execute(
        """CREATE FUNCTION principal_changed() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
               PERFORM pg_notify('loyalty_principals', CASE
                   WHEN TG_OP = 'TRUNCATE' OR TG_ARGV[0] = '*' THEN '*'
                   ELSE TG_ARGV[0] || ':' || OLD.id END);
               RETURN NULL;
           END $$"""
    )
    for table, (kind, columns) in WATCHED.items():
        changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)
        op.execute(
            f"CREATE TRIGGER {table}_principal_changed AFTER UPDATE OF {', '.join(columns)} ON {table} "
            f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION principal_changed('{kind}')"
        )
        op.execute(
            f"CREATE TRIGGER {table}_principal_deleted AFTER DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION principal_changed('{kind}')"
        )
        op.execute(
            f"CREATE TRIGGER {table}_principals_emptied AFTER TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION principal_changed('*')"
        )


def downgrade() -> None:
    for table in WATCHED:
        for trigger in ("principal_changed", "principal_deleted", "principals_emptied"):
            op.execute(f"DROP TRIGGER {table}_{trigger} ON {table}")
    op.execute("DROP FUNCTION principal_changed()")
