"""the partner registry: what a partner is, its status, and each branch's contact there [X1]

Revision ID: 0051
Revises: 0050
Create Date: 2026-12-07

A partner held a code, a name and the branch that maintains it. It now holds its kind (airline, mall, …), its
nature (form of ownership), address, legal representative, staff count, registered capital and status; a
partner suspended or terminated is refused its API keys, so the principals' notification (0016) names the
partner's status as it names its branch. Each branch on the partner's side of the tree keeps its own contact at
the partner (a province its contact for a national partner): `partner_contact`, one per partner and branch.
Partners made before are ACTIVE, of kind and nature OTHER.
"""

import sqlalchemy as sa
from alembic import op

from loyalty.migrate import one_of

revision = "0051"
down_revision = "0050"
branch_labels = None
depends_on = None

KINDS = ("AIRLINE", "MALL", "RETAIL", "TRAVEL", "HOSPITALITY", "FINANCE", "OTHER")
NATURES = ("STATE_OWNED", "PRIVATE", "JOINT_VENTURE", "FOREIGN", "PUBLIC_INSTITUTION", "OTHER")
STATUSES = ("ACTIVE", "SUSPENDED", "TERMINATED")


def _watch_partner(columns: str, changed: str) -> None:
    op.execute("DROP TRIGGER partner_principal_changed ON partner")
    op.execute(
        f"CREATE TRIGGER partner_principal_changed AFTER UPDATE OF {columns} ON partner "
        f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION principal_changed('*')"
    )


def upgrade() -> None:
    filled = {"kind": (KINDS, "OTHER"), "nature": (NATURES, "OTHER"), "status": (STATUSES, "ACTIVE")}
    for column, (values, given) in filled.items():  # checked as one constant (0036)
        op.add_column("partner", sa.Column(column, sa.String(32), nullable=False, server_default=given))
        op.create_check_constraint(op.f(f"ck_partner_partner_{column}"), "partner", one_of(column, list(values)))
    op.add_column("partner", sa.Column("address", sa.String(200), nullable=True))
    op.add_column("partner", sa.Column("legal_representative", sa.String(100), nullable=True))
    op.add_column("partner", sa.Column("staff_count", sa.Integer, nullable=True))
    op.add_column("partner", sa.Column("registered_capital_yuan", sa.BigInteger, nullable=True))
    op.create_check_constraint(op.f("ck_partner_staff_count_not_negative"), "partner", "staff_count >= 0")
    op.create_check_constraint(
        op.f("ck_partner_registered_capital_not_negative"), "partner", "registered_capital_yuan >= 0"
    )
    op.create_table(
        "partner_contact",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("partner_id", sa.BigInteger, sa.ForeignKey("partner.id"), nullable=False),
        sa.Column("branch_id", sa.BigInteger, sa.ForeignKey("branch.id"), nullable=False, index=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("position", sa.String(100), nullable=True),
        sa.Column("phone", sa.String(24), nullable=True),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("partner_id", "branch_id", name="partner_contact_one_per_branch"),
    )
    _watch_partner(
        "branch_id, status", "OLD.branch_id IS DISTINCT FROM NEW.branch_id OR OLD.status IS DISTINCT FROM NEW.status"
    )


def downgrade() -> None:
    _watch_partner("branch_id", "OLD.branch_id IS DISTINCT FROM NEW.branch_id")
    op.drop_table("partner_contact")
    for column in (
        "registered_capital_yuan",
        "staff_count",
        "legal_representative",
        "address",
        "status",
        "nature",
        "kind",
    ):
        op.drop_column("partner", column)
