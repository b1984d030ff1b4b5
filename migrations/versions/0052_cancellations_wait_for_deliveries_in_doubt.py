"""a redemption whose delivery was tried and failed is not cancelled until an operator settles it

Revision ID: 0052
Revises: 0051
Create Date: 2026-12-07

A delivery that raised (a timeout after the billing system had applied the credit, say) stayed PENDING or became
FAILED, and a cancellation gave the points back all the same: the member could keep both the minutes and the
points. A line whose delivery was ever tried and not delivered (its last error kept, even after a retry) is
refused with FULFILMENT_IN_DOUBT: an operator retries it (the billing system applies a fulfilment once per id)
or settles it with the billing system first.
"""

from loyalty.migrate import rewrite_functions

revision = "0052"
down_revision = "0051"
branch_labels = None
depends_on = None

DELIVERY = "(SELECT state FROM fulfilment WHERE line_id = l.id) AS delivery"
DELIVERY_OR_DOUBT = (
    "(SELECT CASE WHEN state <> 'DELIVERED' AND last_error IS NOT NULL THEN 'IN_DOUBT' ELSE state END"
    " FROM fulfilment WHERE line_id = l.id) AS delivery"
)
REFUSED = """                IF line.delivery = 'DELIVERED' THEN
                    troubles := troubles || problem('FULFILMENT_DELIVERED', 'The billing system has delivered it.',
                                              CASE WHEN line.position IS NULL THEN 'redemption_id'
                                              ELSE format('items.%s.item_id', line.position) END);
                END IF;
"""
REFUSED_IN_DOUBT = (
    REFUSED
    + """                IF line.delivery = 'IN_DOUBT' THEN
                    troubles := troubles || problem('FULFILMENT_IN_DOUBT', 'Its delivery was tried and failed: the'
                                              ' billing system may have applied it. An operator retries or settles'
                                              ' it first.',
                                              CASE WHEN line.position IS NULL THEN 'redemption_id'
                                              ELSE format('items.%s.item_id', line.position) END);
                END IF;
"""
)
CHANGES = [(DELIVERY, DELIVERY_OR_DOUBT), (REFUSED, REFUSED_IN_DOUBT)]


def upgrade() -> None:
    rewrite_functions(CHANGES, ("cancel_redemption",), each_once=True)


def downgrade() -> None:
    rewrite_functions([(new, old) for old, new in CHANGES], ("cancel_redemption",), each_once=True)
