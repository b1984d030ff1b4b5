"""fewer statements and tables opened by every redemption and ledger entry

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07

A redemption's ~590 µs in the database are spread over some thirty statements, and most of each statement's
cost is PostgreSQL's own per statement: setting up its plan, opening its tables, preparing each CHECK
constraint of a table it writes. Counted in instructions per `redeem_points` call (the server run alone under
an instruction counter, 120 calls less 20, each variant on a fresh copy of one database), these two changes
take 4.5 % of them away (2.938 → 2.807 million); tps on two shared cores moves too little, against its noise,
to show it:

- `redemption_make` wrote the lines, the gifts' pick-ups, the stock and its movements and the fulfilments in one
  statement, so every redemption opened the three gift tables; the gifts now have a statement of their own,
  sent only when there are gifts (−2.5 % alone; a gift's redemption sends one statement more).
- `ledger_references_exist` (every ledger entry) looked for the message of a missing member, staff member or
  reversed entry with three queries each time; one probe now finds that nothing is missing (−1.8 % alone).

Two more were measured and left out, as they changed nothing: `member_in_scope` in one query instead of two,
and `points_expired` in SQL instead of PL/pgSQL.
"""

from loyalty.migrate import rewrite_functions

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

_LINES_END = "                RETURNING id, item_id, kind, quantity\n"
_GIFTS_IN_THE_STATEMENT = """            ), pickups AS (
                INSERT INTO gift_pickup (redemption_id, line_id, member_id, item_id, branch_id, quantity, state)
                SELECT made.id, id, p_member_id, item_id, place, quantity, 'READY' FROM lines WHERE kind = 'GIFT'
            ), taken AS (
                UPDATE gift_stock s SET quantity = s.quantity - g.quantity, updated_at = now()
                FROM given g WHERE g.kind = 'GIFT' AND s.item_id = g.item_id AND s.branch_id = place
                RETURNING s.item_id, s.quantity AS after, g.quantity
            ), moved AS (
                INSERT INTO gift_stock_movement (item_id, branch_id, kind, quantity, balance_after, staff_id,
                                                 redemption_id)
                SELECT item_id, place, 'REDEMPTION', -quantity, after, p_staff_id, made.id FROM taken
            )
"""
_FULFILMENTS_LAST = """            WHERE l.kind IN ('BILL_CREDIT', 'CALL_MINUTES', 'CONTENT');
            RETURN made;"""
_GIFTS_ON_THEIR_OWN = """            WHERE l.kind IN ('BILL_CREDIT', 'CALL_MINUTES', 'CONTENT');
            -- the gifts, when there are any: out of the stock (locked by the checks), waiting for pick-up here
            IF p_checked -> 'lines' @> '[{"kind": "GIFT"}]' THEN
                WITH gifts AS (
                    SELECT id, item_id, quantity FROM redemption_line WHERE redemption_id = made.id AND kind = 'GIFT'
                ), pickups AS (
                    INSERT INTO gift_pickup (redemption_id, line_id, member_id, item_id, branch_id, quantity, state)
                    SELECT made.id, id, p_member_id, item_id, place, quantity, 'READY' FROM gifts
                ), taken AS (
                    UPDATE gift_stock s SET quantity = s.quantity - g.quantity, updated_at = now()
                    FROM gifts g WHERE s.item_id = g.item_id AND s.branch_id = place
                    RETURNING s.item_id, s.quantity AS after, g.quantity
                )
                INSERT INTO gift_stock_movement (item_id, branch_id, kind, quantity, balance_after, staff_id,
                                                 redemption_id)
                SELECT item_id, place, 'REDEMPTION', -quantity, after, p_staff_id, made.id FROM taken;
            END IF;
            RETURN made;"""

_LOOKED_FOR = """           BEGIN
               SELECT coalesce(m, s, r) INTO missing FROM ("""
_PROBED_FIRST = """           BEGIN
               -- one probe finds that nothing is missing; the message is looked for only when something is
               IF NOT EXISTS (
                   SELECT 1 FROM new_rows n
                   WHERE NOT EXISTS (SELECT 1 FROM member x WHERE x.id = n.member_id)
                      OR n.staff_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM staff x WHERE x.id = n.staff_id)
                      OR n.reverses_id IS NOT NULL
                         AND NOT EXISTS (SELECT 1 FROM ledger_transaction x WHERE x.id = n.reverses_id)) THEN
                   RETURN NULL;
               END IF;
               SELECT coalesce(m, s, r) INTO missing FROM ("""

# function → [(its text before, after)]
CHANGES = {
    "redemption_make": [
        (_LINES_END + _GIFTS_IN_THE_STATEMENT, _LINES_END + "            )\n"),
        (_FULFILMENTS_LAST, _GIFTS_ON_THEIR_OWN),
    ],
    "ledger_references_exist": [(_LOOKED_FOR, _PROBED_FIRST)],
}


def upgrade() -> None:
    for name, changes in CHANGES.items():
        rewrite_functions(list(changes), (name,), each_once=True)


def downgrade() -> None:
    for name, changes in reversed(CHANGES.items()):
        rewrite_functions([(after, before) for before, after in reversed(changes)], (name,), each_once=True)
