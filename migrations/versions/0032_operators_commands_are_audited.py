"""an operator's commands at the host's command line are in the audit trail

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06

`loyalty create-staff` (an administrator of any branch, say), `create-branch`, `create-partner` and
`clear-login-throttle` changed who may do what and left no audit event. Each now writes one, of the principal
kind OPERATOR: the host's user (its uid, and `user@host` as the address), at headquarters.
"""

from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

_KINDS = ("MEMBER", "STAFF", "PARTNER", "OPERATOR")
_COLUMNS = (("audit_event", "principal_kind"), ("login_attempt", "kind"))


def _allow(kinds: tuple[str, ...]) -> None:
    """The columns' check, of `kinds`. Adding it reads the trail's rows while the mutations that write it wait
    (the migration is one transaction): about a second a few million events."""
    listed = ", ".join(f"'{kind}'" for kind in kinds)
    for table, column in _COLUMNS:
        name = op.f(f"ck_{table}_{column}")  # the name as it is, not made by the naming convention again
        op.drop_constraint(name, table, type_="check")
        op.create_check_constraint(name, table, f"{column} IN ({listed})")


def upgrade() -> None:
    _allow(_KINDS)


def downgrade() -> None:
    op.execute("DELETE FROM login_attempt WHERE kind = 'OPERATOR'")  # none: operators do not log in
    _allow(_KINDS[:-1])  # refused while the trail holds an operator's event: the trail is never rewritten
