"""the customer of a member moved to another province goes along

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-07

A member and their customer are of one province, so that one province's staff serve the person: a member who
joins or moves to a club of another province takes the customer along (since this revision's code; headquarters
is a province of its own here). A member moved before kept their customer in the
province they left, which still read and changed it while the new one could not: such a customer now goes to
the member's branch. An ended membership's customer stays where it is (an ended membership is not changed).
Going back leaves the customers moved where they are (the branch they had is not kept).
"""

from alembic import op

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        UPDATE customer c SET branch_id = m.branch_id, updated_at = now()
        FROM member m, branch mb, branch home
        WHERE m.customer_id = c.id AND m.status <> 'ENDED' AND mb.id = m.branch_id AND home.id = c.branch_id
          AND substring(mb.path from '^/[0-9]+/(?:[0-9]+/)?') <> substring(home.path from '^/[0-9]+/(?:[0-9]+/)?')""")


def downgrade() -> None:
    pass
