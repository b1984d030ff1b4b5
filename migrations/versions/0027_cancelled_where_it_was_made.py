"""a redemption is cancelled by the branch where it was made, too

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06

`cancel_redemption` let staff cancel only a redemption of a member of their subtree: the Beijing counter
that had just redeemed a gift for a Guangdong member (a card shown at its POS) read the redemption, as
both branches do, but its cancellation answered NOT_FOUND, and the member was sent to Guangdong's hotline
for a change of mind at the counter. Staff of the branch where a redemption was made (its `branch_id`,
in their subtree) now cancel it as the member's own branch does, under the same window and checks.
"""

from loyalty.migrate import rewrite_functions

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

# the end of the scope check: the member's branch in the staff's subtree, or now also where it was made
BEFORE = """
                                                         WHERE m.id = r.member_id), false) THEN"""
AFTER = """
                                                         WHERE m.id = r.member_id), false)
                                      AND NOT coalesce((SELECT pg_catalog.starts_with(b.path::text, p_staff_branch_path)
                                                        FROM branch b WHERE b.id = r.branch_id), false) THEN"""


def upgrade() -> None:
    rewrite_functions([(BEFORE, AFTER)], ("cancel_redemption",))


def downgrade() -> None:
    rewrite_functions([(AFTER, BEFORE)], ("cancel_redemption",))
