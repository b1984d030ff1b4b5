"""What `loyalty verify` checks of redemption, beside the ledger's own: each query returns the rows that break
its rule, so an empty answer means it holds."""

from __future__ import annotations

INVARIANTS: dict[str, str] = {
    "each redemption took its points in its ledger entry": """
        SELECT r.id, r.points, t.points FROM redemption r
        LEFT JOIN ledger_transaction t ON t.id = r.transaction_id
        WHERE t.id IS NULL OR t.points <> -r.points OR t.member_id <> r.member_id OR t.entry_type <> 'REDEMPTION'""",
    "each redemption's points are its lines', and its cancelled points its cancelled quantities'": """
        SELECT r.id FROM redemption r
        JOIN (SELECT redemption_id, sum(points) AS points, sum(cancelled_quantity * unit_points) AS cancelled,
                     bool_or(points <> quantity * unit_points) AS wrong
              FROM redemption_line GROUP BY redemption_id) l ON l.redemption_id = r.id
        WHERE l.points <> r.points OR l.cancelled <> r.cancelled_points OR l.wrong""",
    "cancelled points equal their restoring entries": """
        SELECT r.id, r.cancelled_points, coalesce(c.points, 0) FROM redemption r
        LEFT JOIN (SELECT redemption_id, sum(points) AS points FROM redemption_cancellation
                   GROUP BY redemption_id) c ON c.redemption_id = r.id
        WHERE r.cancelled_points <> coalesce(c.points, 0)
        UNION ALL
        SELECT c.redemption_id, c.points, t.points FROM redemption_cancellation c
        LEFT JOIN ledger_transaction t ON t.id = c.transaction_id
        LEFT JOIN ledger_transaction e ON e.id = c.expiry_transaction_id
        WHERE t.id IS NULL OR t.points <> c.points OR t.entry_type <> 'CANCELLATION'
           OR coalesce(-e.points, 0) <> c.expired_points""",
    "gift stock equals its history": """
        SELECT s.item_id, s.branch_id, s.quantity, coalesce(m.total, 0) FROM gift_stock s
        FULL JOIN (SELECT item_id, branch_id, sum(quantity) AS total FROM gift_stock_movement
                   GROUP BY item_id, branch_id) m ON m.item_id = s.item_id AND m.branch_id = s.branch_id
        WHERE coalesce(s.quantity, 0) <> coalesce(m.total, 0)""",
    "no gift stock is negative": "SELECT item_id, branch_id FROM gift_stock WHERE quantity < 0",
    "each delivery in doubt is still to deliver": """
        SELECT d.fulfilment_id, f.state FROM fulfilment_doubt d LEFT JOIN fulfilment f ON f.id = d.fulfilment_id
        WHERE f.state IS NULL OR f.state NOT IN ('PENDING', 'FAILED')""",
}
