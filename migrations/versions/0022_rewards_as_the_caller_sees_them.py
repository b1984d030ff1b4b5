"""a redemption's checks know only the rewards the caller sees, and figures that fit the API

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06

`redemption_check` (behind `quoteRedemption` and `redeemPoints`) named any reward by its id: a member could
read a draft or another province's reward (its name, price, status) through a quote's lines and messages,
though `node(id:)` answers null for it. A reward is now found only when the caller sees it: a member, what
is offered at their home (national, or their province's) and not a draft; staff serving a member, that and
what is offered in their own subtree (`reward_seen`). Any other answers NOT_FOUND, as `node` does.

A redemption's points and a line's benefit (fen or minutes) are answered as GraphQL `Int`s: a redemption of
more than 1,000,000,000 points, or a line worth more than 1,000,000,000 of its benefit, is refused
(OUT_OF_RANGE) instead of failing as the answer is written.
"""

from alembic import op

from loyalty.migrate import rewrite_functions

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


SEEN = """
    -- Whether the caller sees `p_item` while serving a member of `p_home_province`: the member sees what is
    -- offered at their home (national, or their province's) and not a draft; staff (`p_staff_branch_path`)
    -- also what is offered in their subtree (its own, national ones, their province's). As `node(id:)`.
    -- PL/pgSQL, so that its statement's plan is kept by the connection (a SQL function is planned each call).
    CREATE FUNCTION reward_seen(p_item reward_item, p_staff_branch_path text, p_home_province bigint)
    RETURNS boolean LANGUAGE plpgsql STABLE AS $$
        DECLARE
            item_path text;
            province bigint;
        BEGIN
            SELECT path, CASE WHEN level = 'HQ' THEN NULL ELSE split_part(path, '/', 3)::bigint END
            INTO item_path, province FROM branch WHERE id = p_item.branch_id;
            RETURN p_item.status <> 'DRAFT' AND coalesce(province = p_home_province, province IS NULL)
                OR coalesce(pg_catalog.starts_with(item_path, p_staff_branch_path)
                            OR pg_catalog.starts_with(p_staff_branch_path, item_path), false);
        END $$"""

CHECK = ("redemption_check",)
FIGURES_MAX = 1_000_000_000
CHANGES = [
    (
        "                SELECT * INTO item FROM reward_item WHERE id = asked.item_id;\n"
        "                IF NOT FOUND THEN\n",
        "                SELECT * INTO item FROM reward_item WHERE id = asked.item_id;\n"
        "                IF NOT FOUND OR NOT coalesce(reward_seen(item, p_staff_branch_path, home_province), false)"
        " THEN\n",
    ),
    (
        "                total := total + item.points_price * asked.quantity;\n",
        "                total := total + item.points_price * asked.quantity;\n"
        f"                IF item.benefit_amount * asked.quantity > {FIGURES_MAX} THEN\n"
        "                    PERFORM refuse('OUT_OF_RANGE', format('At most %s of %s in one redemption.',\n"
        f"                                   {FIGURES_MAX} / item.benefit_amount, item.name),\n"
        "                                   format('items.%s.quantity', asked.position));\n"
        "                END IF;\n",
    ),
    (
        "            IF available < total THEN\n",
        f"            IF total > {FIGURES_MAX} THEN\n"
        f"                PERFORM refuse('OUT_OF_RANGE', 'A redemption is of at most {FIGURES_MAX:,} points.',"
        " 'items');\n"
        "            END IF;\n"
        "            IF available < total THEN\n",
    ),
]


def upgrade() -> None:
    op.execute(SEEN)
    rewrite_functions(list(CHANGES), CHECK)


def downgrade() -> None:
    rewrite_functions([(after, before) for before, after in CHANGES], CHECK)
    op.execute("DROP FUNCTION reward_seen(reward_item, text, bigint)")
