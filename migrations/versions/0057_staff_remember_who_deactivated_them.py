"""a staff account remembers who deactivated it, and only that administrator's branch or one above reactivates it

Revision ID: 0057
Revises: 0056
Create Date: 2026-12-07

Headquarters deactivated a province's employee (a fraud under investigation, say) and the province's own
administrator could reactivate them at once: the account's branch was all `updateStaff` looked at. An inactive
account now keeps who deactivated it (`staff_deactivation`), and is reactivated only by an administrator whose
subtree holds that person's branch. Accounts deactivated before have none: any administrator over them, as before.
"""

import sqlalchemy as sa
from alembic import op

revision = "0057"
down_revision = "0056"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_deactivation",
        sa.Column("staff_id", sa.BigInteger(), sa.ForeignKey("staff.id"), primary_key=True),
        sa.Column("deactivated_by", sa.BigInteger(), sa.ForeignKey("staff.id"), nullable=False, index=True),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("staff_deactivation")
