"""Statements per request, redemption (resolvers/redemption, and the redemption lists under a member)."""

from __future__ import annotations

import itertools
import json
from datetime import date, timedelta

import pytest

from domain import clock
from domain.members.states import MemberOperation, rules_for
from domain.validation import period_days_max
from tests.api import gid
from tests.graphql.cases import CASES
from tests.statement_counts import (
    HeldJobs,
    assert_same_statements,
    assert_statements,
    measure,
    measure_case,
    transaction_control,
)

# Exactly how many SQL statements each request sends, its authentication included.
STATEMENTS = {
    "createRewardItem": 6,
    "updateRewardItem": 6,
    "activateRewardItem": 5,
    "retireRewardItem": 6,
    "createConsumptionRule": 7,
    "updateConsumptionRule": 6,
    # The key claimed and stored, the gift and the branch, then per branch: the row made, locked, changed, the movement.
    "receiveGiftStock": 10,
    "adjustGiftStock": 10,
    "transferGiftStock": 15,
    # One call of the database function: the key, the scope, the checks and the work in one statement (below).
    "redeemPoints": 2,
    "cancelRedemption": 2,
    # The delivery locked with its member's branch, the change (settling: the doubt removed first, the settlement).
    "retryFulfilment": 4,
    "settleFulfilment": 6,
    "handOverGift": 5,
    "rewardItems": 3,
    "RewardItem.gradeCodes": 2,
    "consumptionRules": 5,
    "ConsumptionRule.changes": 5,
    "giftStock": 4,
    "giftStockHistory": 7,
    "redemptions": 13,
    # The lists of one redemption are measured together, in one query of it: one count for all of them.
    "Redemption.lines": 13,
    "Redemption.fulfilments": 13,
    "Redemption.pickups": 13,
    "Redemption.cancellations": 13,
    "RedemptionCancellation.items": 13,
    "redemptionTotals": 2,
    "fulfilments": 5,
    "Fulfilment.settlements": 5,  # the page, its doubts, settlements and their staff: one batch each
    "giftPickups": 7,
    "Member.catalogue": 6,
    "Member.redemptions": 12,
    # A quote's lists are measured together too.
    "RedemptionQuote.errors": 3,
    "RedemptionQuote.lines": 3,
    "RedemptionQuote.lots": 3,
    # The key claimed, the member in scope (staff: the member and its branch), the reward, the booking, the result.
    "bookAutoRedemption": 8,
    # The key claimed, the booking locked, the member in scope (its row and branch), the change, the result.
    "pauseAutoRedemption": 8,
    "resumeAutoRedemption": 8,
    "cancelAutoRedemption": 8,
    "runAutoRedemption": 7,
    "autoRedemptionRuns": 5,
    "Member.autoRedemptions": 6,
    "AutoRedemption.executions": 6,
}

MUTATIONS = [
    "createRewardItem",
    "updateRewardItem",
    "activateRewardItem",
    "retireRewardItem",
    "createConsumptionRule",
    "updateConsumptionRule",
    "receiveGiftStock",
    "adjustGiftStock",
    "transferGiftStock",
    "redeemPoints",
    "cancelRedemption",
    "retryFulfilment",
    "settleFulfilment",
    "handOverGift",
    "bookAutoRedemption",
    "pauseAutoRedemption",
    "resumeAutoRedemption",
    "cancelAutoRedemption",
]


@pytest.mark.parametrize("mutation", MUTATIONS)
async def test_a_successful_mutation_sends_exactly_its_statements(api, statements, mutation):
    # given the demo data and a valid request from an allowed caller (tests/graphql/cases)
    # when the caller sends it
    measured = await measure_case(api, statements, mutation)
    # then it succeeded with exactly the recorded number of statements
    assert_statements(mutation, measured, STATEMENTS[mutation])


@pytest.mark.parametrize("mutation", ["redeemPoints", "cancelRedemption"])
@pytest.mark.parametrize("who", ["member", "agent"])
async def test_redeeming_and_cancelling_are_one_round_trip_after_authentication(
    api, statements, monkeypatch, mutation, who
):
    # given Li Wei on the web, or an agent at the Guangzhou counter, logged in, and a valid request
    case = CASES[mutation]
    variables = {"input": await case.make_input(api, who)}
    await api.token(who)
    # when the caller redeems points, or cancels a redemption
    with transaction_control(monkeypatch) as sent:
        measured = await measure(api, statements, case.query(), variables, as_=who)
    # then it succeeded with its authentication and one statement, and no BEGIN or COMMIT around it
    assert measured.data(mutation)["errors"] == []
    assert_statements(f"{mutation} by {who}", measured, 2)
    assert sent == []


# --- data sets larger than the demo's -----------------------------------------------------------


CODES = (1_000 * n for n in itertools.count(1))  # where the codes of each batch of rewards start


def today() -> date:
    """The app's today (domain.clock): redemptions are made on it."""
    return clock.today()


async def more_items(api, count: int, kind: str = "CONTENT", branch: str = "HQ", status: str = "ACTIVE") -> list[int]:
    """`count` more rewards of every grade, offered since 2000: national contents by default."""
    ids = await api.scalar(
        """WITH made AS (
               INSERT INTO reward_item (code, name, kind, points_price, content_code, grade_codes, available_from,
                                        branch_id, staff_id, status)
               SELECT :kind || '-' || (:first + g), 'Bulk reward ' || g, :kind, 10,
                      CASE WHEN :kind = 'CONTENT' THEN 'BULK' END, '["DIAMOND", "EMERALD", "SAPPHIRE"]',
                      '2000-01-01', :branch, :staff, :status
               FROM generate_series(1, :count) g RETURNING id)
           SELECT array_agg(id ORDER BY id) FROM made""",
        kind=kind,
        first=next(CODES),
        count=count,
        branch=api.demo.branches[branch],
        staff=api.demo.staff["admin"],
        status=status,
    )
    return list(ids)


async def grant(api, points: int, member: str = "Li Wei") -> None:
    """More points for the member (a promotion of today's, in one lot)."""
    await api.scalar(
        "SELECT (points_move(:member, 'BONUS_PROMOTION', 'ISSUANCE', :points, :today, 'Bulk', NULL)).id",
        member=api.demo.members[member],
        points=points,
        today=today(),
    )


async def stocked(api, item_ids: list[int], branch: str = "GD", quantity: int = 1_000) -> None:
    """Gifts in stock at the branch, without their movements (read-only figures)."""
    await api.scalar(
        """INSERT INTO gift_stock (item_id, branch_id, quantity) SELECT unnest(CAST(:items AS bigint[])), :branch, :q
           ON CONFLICT (item_id, branch_id) DO UPDATE SET quantity = excluded.quantity RETURNING 1""",
        items=item_ids,
        branch=api.demo.branches[branch],
        q=quantity,
    )


async def more_redemptions(api, count: int, items: list[tuple[int, int]] | None = None, cancel: bool = True) -> None:
    """`count` more redemptions for Li Wei at the Guangzhou counter by the agent, each of a month of music and an
    umbrella (or of `items`: (item id, quantity)), made by the database function the API calls; the music of every
    other one cancelled by the agent, so that each has a line, a delivery, a pick-up and (some) a cancellation."""
    umbrella, music = api.demo.rewards["GD-UMBRELLA"], api.demo.rewards["MUSIC-MONTH"]
    items = items or [(umbrella, 1), (music, 1)]
    await api.scalar("UPDATE reward_item SET daily_limit = NULL, monthly_limit = NULL RETURNING 1")
    await stocked(api, [umbrella])
    await grant(api, count * sum(1_000 * q for _, q in items))
    lines = [{"item_id": i, "quantity": q, "position": p} for p, (i, q) in enumerate(items)]
    await api.scalar(
        """SELECT count(r.id) FROM generate_series(1, :count) g CROSS JOIN LATERAL redeem_points(
               'bulk-' || g, NULL, NULL, :member, :staff, :branch, :path, true, 'COUNTER', :outlet, NULL,
               CAST(:lines AS jsonb), :today, CAST(:states AS jsonb)) r""",
        count=count,
        member=api.demo.members["Li Wei"],
        staff=api.demo.staff["gd.agent"],
        branch=api.demo.branches["GD"],
        path=await api.scalar("SELECT path FROM branch WHERE code = 'GD'"),
        outlet=api.demo.outlets["GD-COUNTER"],
        lines=json.dumps(lines),
        today=today(),
        states=json.dumps(rules_for(MemberOperation.SPEND)),
    )
    if cancel:
        await cancel_some(api, music)


async def cancel_some(api, item_id: int, every: int = 2) -> None:
    """One of each item of every `every`th redemption that has it, cancelled by the agent."""
    await api.scalar(
        """SELECT count(c.id) FROM redemption r CROSS JOIN LATERAL cancel_redemption(
               NULL, NULL, NULL, r.id, NULL, :staff, '/', CAST(:items AS jsonb), 'Changed his mind', :today, 7) c
           WHERE r.id % :every = 0
             AND EXISTS (SELECT 1 FROM redemption_line l WHERE l.redemption_id = r.id AND l.item_id = :item
                         AND l.cancelled_quantity < l.quantity)""",
        staff=api.demo.staff["gd.agent"],
        items=json.dumps([{"item_id": item_id, "quantity": 1, "position": 0}]),
        today=today(),
        every=every,
        item=item_id,
    )


async def pages(api, statements, query: str, field: str, who: str = "hq_admin", shown=None) -> dict:
    """A page of 1 and a page of 50 of a list (`shown` finds the connection in the answer)."""
    shown = shown or (lambda data: data[field])
    by_size = {}
    for first in (1, 50):
        by_size[first] = await measure(api, statements, query, {"first": first}, as_=who)
        assert len(shown(by_size[first].answer["data"])["edges"]) == first, by_size[first].answer
    return by_size


# --- the catalogue and its rules ------------------------------------------------------------------

ITEMS_PAGE = """query($first: Int) { rewardItems(first: $first) { pageInfo { hasNextPage endCursor }
    edges { cursor node { id code name description kind pointsPrice benefitAmount contentCode gradeCodes
        availableFrom availableTo dailyLimit monthlyLimit status pictureUrl branch { code name level } } } } }"""


async def test_a_reward_items_page_costs_the_same_statements_whatever_its_size(api, statements):
    # given 60 more rewards, national and Guangdong's, drafts and active ones
    await more_items(api, 30)
    await more_items(api, 30, kind="GIFT", branch="GD", status="DRAFT")
    # when a page of 1 and a page of 50 are fetched with what a catalogue list shows
    by_size = await pages(api, statements, ITEMS_PAGE, "rewardItems")
    # then both cost the same statements
    assert_same_statements("rewardItems", by_size, STATEMENTS["rewardItems"])


ITEM_GRADES = """query($id: ID!) { node(id: $id) { ... on RewardItem { code gradeCodes } } }"""


async def test_a_rewards_grades_cost_the_same_statements_whatever_their_number(api, statements):
    # given the umbrella, for two grades, and a reward for one
    [one] = await more_items(api, 1)
    await api.scalar("UPDATE reward_item SET grade_codes = '[\"DIAMOND\"]' WHERE id = :id RETURNING 1", id=one)
    small = await measure(api, statements, ITEM_GRADES, {"id": gid("RewardItem", one)}, as_="hq_admin")
    large = await measure(api, statements, ITEM_GRADES, {"id": gid("RewardItem", api.demo.rewards["BILL-10"])},
                          as_="hq_admin")  # fmt: skip
    # then both cost the same statements
    assert len(small.data("node")["gradeCodes"]) < len(large.data("node")["gradeCodes"])
    by_length = {"1 grade": small, "3 grades": large}
    assert_same_statements("RewardItem.gradeCodes", by_length, STATEMENTS["RewardItem.gradeCodes"])


RULES = """{ consumptionRules { id gradeCode itemKind minimumAvailablePoints effectiveFrom effectiveTo
    item { code } changes { action before after changedAt changedBy { username } } } }"""
RULE_CHANGES = """query($id: ID!) { node(id: $id) { ... on ConsumptionRule { effectiveFrom
    changes { action before after changedAt changedBy { username branch { code } } } } } }"""


async def more_rules(api, count: int) -> None:
    """`count` more rules, each of one reward and created once by the headquarters administrator."""
    items = await more_items(api, count)
    await api.scalar(
        """WITH r AS (INSERT INTO consumption_rule (item_id, minimum_available_points, effective_from)
                      SELECT unnest(CAST(:items AS bigint[])), 100, '2030-01-01' RETURNING id, item_id)
           INSERT INTO consumption_rule_change (rule_id, action, after, staff_id)
           SELECT id, 'CREATE', jsonb_build_object('item_id', item_id), :staff FROM r RETURNING 1""",
        items=items,
        staff=api.demo.staff["admin"],
    )


async def more_changes(api, rule: int, count: int) -> None:
    """`count` more changes of the rule's end (not states it reaches this way: read-only, for their number)."""
    await api.scalar(
        """INSERT INTO consumption_rule_change (rule_id, action, before, after, staff_id)
           SELECT :rule, 'UPDATE', jsonb_build_object('effective_to', NULL),
                  jsonb_build_object('effective_to', make_date(2030 + g, 1, 1)), :staff
           FROM generate_series(1, :count) g RETURNING 1""",
        rule=rule,
        count=count,
        staff=api.demo.staff["admin"],
    )


async def test_the_consumption_rules_cost_the_same_statements_whatever_their_number(api, statements):
    # given the demo's founding rule and a rule of one reward, created by the headquarters administrator
    await more_rules(api, 1)
    small = await measure(api, statements, RULES, as_="hq_admin")
    # when there are 30 more such rules, and staff ask again
    await more_rules(api, 30)
    large = await measure(api, statements, RULES, as_="hq_admin")
    # then they cost the same statements
    assert len(small.data("consumptionRules")) + 30 == len(large.data("consumptionRules"))
    by_number = {"demo": small, "30 more": large}
    assert_same_statements("consumptionRules", by_number, STATEMENTS["consumptionRules"])


async def test_a_consumption_rules_changes_cost_the_same_statements_whatever_their_number(api, statements):
    # given the founding rule as the demo created it, changed once by the headquarters administrator
    rule = await api.scalar("SELECT min(id) FROM consumption_rule")
    variables = {"id": gid("ConsumptionRule", rule)}
    await more_changes(api, rule, 1)
    small = await measure(api, statements, RULE_CHANGES, variables, as_="hq_admin")
    # when it has changed 30 more times, and staff ask again
    await more_changes(api, rule, 30)
    large = await measure(api, statements, RULE_CHANGES, variables, as_="hq_admin")
    # then they cost the same statements
    assert len(small.data("node")["changes"]) + 30 == len(large.data("node")["changes"])
    by_number = {"demo": small, "30 more": large}
    assert_same_statements("ConsumptionRule.changes", by_number, STATEMENTS["ConsumptionRule.changes"])


# --- gift stock -------------------------------------------------------------------------------------

STOCK_PAGE = """query($first: Int) { giftStock(first: $first) { pageInfo { hasNextPage endCursor }
    edges { cursor node { quantity updatedAt item { code name kind } branch { code name } } } } }"""
HISTORY_PAGE = """query($first: Int, $item: ID!, $branch: ID!) {
    giftStockHistory(itemId: $item, branchId: $branch, first: $first) { pageInfo { hasNextPage endCursor }
        edges { cursor node { kind quantity balanceAfter reason createdAt item { code } branch { code }
            otherBranch { code } staff { username branch { code } } } } } }"""


async def test_a_gift_stock_page_costs_the_same_statements_whatever_its_size(api, statements):
    # given 60 more gifts of Guangdong's, in stock there
    await stocked(api, await more_items(api, 60, kind="GIFT", branch="GD"))
    # when a page of 1 and a page of 50 are fetched with each gift and branch
    by_size = await pages(api, statements, STOCK_PAGE, "giftStock")
    # then both cost the same statements
    assert_same_statements("giftStock", by_size, STATEMENTS["giftStock"])


async def test_a_gift_stock_history_page_costs_the_same_statements_whatever_its_size(api, statements):
    # given 60 more movements of Guangdong's umbrellas: transfers to and from Shenzhen by the club operator
    umbrella, gd, sz = api.demo.rewards["GD-UMBRELLA"], api.demo.branches["GD"], api.demo.branches["SZ"]
    await api.scalar(
        """INSERT INTO gift_stock_movement (item_id, branch_id, kind, quantity, balance_after, reason, staff_id,
                                            other_branch_id)
           SELECT :item, :gd, CASE WHEN g % 2 = 0 THEN 'TRANSFER_OUT' ELSE 'TRANSFER_IN' END,
                  CASE WHEN g % 2 = 0 THEN -1 ELSE 1 END, 20 - g % 2, 'Balancing', :staff, :sz
           FROM generate_series(1, 60) g RETURNING 1""",
        item=umbrella,
        gd=gd,
        sz=sz,
        staff=api.demo.staff["gd.operator"],
    )
    # when a page of 1 and a page of 50 are fetched with the branches and who moved the gifts
    by_size = {}
    for first in (1, 50):
        variables = {"first": first, "item": gid("RewardItem", umbrella), "branch": gid("Branch", gd)}
        by_size[first] = await measure(api, statements, HISTORY_PAGE, variables, as_="hq_admin")
        assert len(by_size[first].data("giftStockHistory")["edges"]) == first
    # then both cost the same statements
    assert_same_statements("giftStockHistory", by_size, STATEMENTS["giftStockHistory"])


# --- redemptions ------------------------------------------------------------------------------------

REDEMPTION = """id channel crossBranch points cancelledPoints status redeemedOn createdAt
    member { memberNumber grade { name } } outlet { code branch { code } } branch { code } homeBranch { code }
    handledBy { username branch { code } } transaction { id entryType points }
    lines { kind quantity unitPoints points cancelledQuantity item { code } }
    fulfilments { id kind quantity amount contentCode state attempts item { code } }
    pickups { id quantity state branch { code } handedOverBy { username } item { code } }
    cancellations { points expiredPoints reason createdAt cancelledBy { username }
        items { quantity points item { code } } }"""
REDEMPTIONS_PAGE = f"""query($first: Int) {{ redemptions(first: $first) {{ pageInfo {{ hasNextPage endCursor }}
    edges {{ cursor node {{ {REDEMPTION} }} }} }} }}"""
MY_REDEMPTIONS_PAGE = f"""query($first: Int) {{ me {{ memberNumber redemptions(first: $first) {{
    pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {REDEMPTION} }} }} }} }} }}"""
ONE_REDEMPTION = f"""query($id: ID!) {{ node(id: $id) {{ ... on Redemption {{ {REDEMPTION} }} }} }}"""


async def test_a_redemptions_page_costs_the_same_statements_whatever_its_size(api, statements):
    # given 60 redemptions at the Guangzhou counter, each with a delivery and a pick-up, half partly cancelled
    await more_redemptions(api, 60)
    # when a page of 1 and a page of 50 are fetched with everything a redemption shows
    by_size = await pages(api, statements, REDEMPTIONS_PAGE, "redemptions")
    # then both cost the same statements: every nested object and list is batched
    assert_same_statements("redemptions", by_size, STATEMENTS["redemptions"])


async def test_a_members_redemptions_page_costs_the_same_statements_whatever_its_size(api, statements):
    # given 60 of Li Wei's redemptions at the Guangzhou counter, half partly cancelled
    await more_redemptions(api, 60)
    # when he fetches a page of 1 and a page of 50 of them
    by_size = await pages(api, statements, MY_REDEMPTIONS_PAGE, "me", "member", lambda d: d["me"]["redemptions"])
    # then both cost the same statements
    assert_same_statements("Member.redemptions", by_size, STATEMENTS["Member.redemptions"])


REDEMPTION_LISTS = ["Redemption.lines", "Redemption.fulfilments", "Redemption.pickups", "Redemption.cancellations",
                    "RedemptionCancellation.items"]  # fmt: skip


async def test_a_redemptions_lists_cost_the_same_statements_whatever_their_length(api, statements):
    # given a redemption of a month of music and an umbrella, the music cancelled
    await more_redemptions(api, 1, cancel=False)
    await cancel_some(api, api.demo.rewards["MUSIC-MONTH"], every=1)
    small_id = await api.scalar("SELECT max(id) FROM redemption")
    # and one of 10 contents and 10 gifts, 3 of each, cancelled one by one in 20 cancellations of 2 rewards each
    contents, gifts = await more_items(api, 10), await more_items(api, 10, kind="GIFT", branch="GD")
    await stocked(api, gifts)
    await more_redemptions(api, 1, [(i, 3) for i in contents + gifts], cancel=False)
    large_id = await api.scalar("SELECT max(id) FROM redemption")
    for first, second in zip(contents, gifts, strict=True):
        for _ in range(2):
            await api.scalar(
                """SELECT (cancel_redemption(NULL, NULL, NULL, :r, NULL, :staff, '/', CAST(:items AS jsonb), 'Less',
                                             :today, 7)).id""",
                r=large_id,
                staff=api.demo.staff["gd.agent"],
                items=json.dumps(
                    [
                        {"item_id": first, "quantity": 1, "position": 0},
                        {"item_id": second, "quantity": 1, "position": 1},
                    ]
                ),  # fmt: skip
                today=today(),
            )
    # when staff fetch each with everything it shows
    small = await measure(api, statements, ONE_REDEMPTION, {"id": gid("Redemption", small_id)}, as_="hq_admin")
    large = await measure(api, statements, ONE_REDEMPTION, {"id": gid("Redemption", large_id)}, as_="hq_admin")
    # then the longer lists cost the same statements
    shown, more = small.data("node"), large.data("node")
    for field in ("lines", "fulfilments", "pickups", "cancellations"):
        assert 0 < len(shown[field]) < len(more[field]), field
    assert len(shown["cancellations"][0]["items"]) < len(more["cancellations"][0]["items"])
    for coordinate in REDEMPTION_LISTS:
        assert_same_statements(coordinate, {"short": small, "long": large}, STATEMENTS[coordinate])


FULFILMENTS_PAGE = """query($first: Int) { fulfilments(first: $first) { pageInfo { hasNextPage endCursor }
    edges { cursor node { id kind quantity amount contentCode state attempts lastError deliveredAt createdAt
        item { code } redemption { id points member { memberNumber } } } } } }"""
PICKUPS_PAGE = """query($first: Int) { giftPickups(first: $first) { pageInfo { hasNextPage endCursor }
    edges { cursor node { id quantity state handedOverAt createdAt item { code } branch { code }
        handedOverBy { username } redemption { id points member { memberNumber } } } } } }"""


async def test_a_fulfilments_page_costs_the_same_statements_whatever_its_size(api, statements):
    # given 60 redemptions, each with a month of music to deliver
    await more_redemptions(api, 60, cancel=False)
    # when a page of 1 and a page of 50 of the deliveries are fetched with their redemptions
    by_size = await pages(api, statements, FULFILMENTS_PAGE, "fulfilments")
    # then both cost the same statements
    assert_same_statements("fulfilments", by_size, STATEMENTS["fulfilments"])


SETTLED_PAGE = """query($first: Int) { fulfilments(first: $first) { pageInfo { hasNextPage endCursor }
    edges { cursor node { id state inDoubtSince
                          settlements { outcome reference settledAt settledBy { username } } } } } }"""


async def test_a_fulfilments_settlements_cost_the_same_statements_whatever_their_number(api, statements):
    # given 60 deliveries in doubt, each settled three times before (by two operators)
    await more_redemptions(api, 60, cancel=False)
    await api.scalar("INSERT INTO fulfilment_doubt (fulfilment_id) SELECT id FROM fulfilment RETURNING 1")
    await api.scalar(
        """INSERT INTO fulfilment_settlement (fulfilment_id, outcome, reference, staff_id)
           SELECT f.id, 'NOT_APPLIED', 'BSS-' || n,
                  CASE WHEN n = 2 THEN CAST(:other AS bigint) ELSE CAST(:staff AS bigint) END
           FROM fulfilment f, generate_series(1, 3) n RETURNING 1""",
        staff=api.demo.staff["gd.operator"], other=api.demo.staff["gd.admin"],
    )  # fmt: skip
    # when a page of 1 and a page of 50 are fetched with their doubts and settlements
    by_size = await pages(api, statements, SETTLED_PAGE, "fulfilments")
    # then both cost the same statements
    assert len(by_size[50].data("fulfilments")["edges"][0]["node"]["settlements"]) == 3
    assert_same_statements("Fulfilment.settlements", by_size, STATEMENTS["Fulfilment.settlements"])


async def test_a_gift_pickups_page_costs_the_same_statements_whatever_its_size(api, statements):
    # given 60 redemptions, each with an umbrella waiting in Guangzhou, half of them handed over by the agent
    await more_redemptions(api, 60, cancel=False)
    await api.scalar(
        """UPDATE gift_pickup SET state = 'HANDED_OVER', staff_id = :staff, handed_over_at = now()
           WHERE id % 2 = 1 RETURNING 1""",
        staff=api.demo.staff["gd.agent"],
    )
    # when a page of 1 and a page of 50 of the pick-ups are fetched with who handed them over
    by_size = await pages(api, statements, PICKUPS_PAGE, "giftPickups")
    # then both cost the same statements
    assert_same_statements("giftPickups", by_size, STATEMENTS["giftPickups"])


TOTALS = """query($from: Date!, $to: Date!) { redemptionTotals(from: $from, to: $to) {
    itemKind channel redemptions quantity points } }"""


async def test_redemption_totals_cost_the_same_statements_whatever_the_redemptions(api, statements):
    # given a redemption of a month of music at the counter
    last = date(today().year + 1, 12, 31)
    variables = {"from": f"{last - timedelta(days=period_days_max)}", "to": f"{last}"}  # as far back as totals go
    await more_redemptions(api, 1, [(api.demo.rewards["MUSIC-MONTH"], 1)], cancel=False)
    small = await measure(api, statements, TOTALS, variables, as_="hq_admin")
    # when there are 30 more, of gifts and bill credit too, and staff ask again
    rewards = api.demo.rewards
    await more_redemptions(api, 30, [(rewards["GD-UMBRELLA"], 1), (rewards["BILL-10"], 1)])
    large = await measure(api, statements, TOTALS, variables, as_="hq_admin")
    # then they cost the same statements
    assert len(small.data("redemptionTotals")) < len(large.data("redemptionTotals"))
    by_number = {"1": small, "31": large}
    assert_same_statements("redemptionTotals", by_number, STATEMENTS["redemptionTotals"])


# --- what a member sees ---------------------------------------------------------------------------------

CATALOGUE_PAGE = """query($first: Int) { me { memberNumber catalogue(first: $first) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node { affordable remainingToday remainingThisMonth
        item { id code name kind pointsPrice gradeCodes dailyLimit monthlyLimit branch { code } } } } } } }"""


async def test_a_members_catalogue_page_costs_the_same_statements_whatever_its_size(api, statements):
    # given 60 more national rewards, with limits, some of them redeemed by Li Wei this month
    items = await more_items(api, 60)
    await more_redemptions(api, 2, [(i, 1) for i in items[:10]], cancel=False)
    await api.scalar("UPDATE reward_item SET daily_limit = 3, monthly_limit = 10 RETURNING 1")
    # when he fetches a page of 1 and a page of 50 of what he may redeem
    by_size = await pages(api, statements, CATALOGUE_PAGE, "me", "member", lambda d: d["me"]["catalogue"])
    # then both cost the same statements
    assert_same_statements("Member.catalogue", by_size, STATEMENTS["Member.catalogue"])


QUOTE = """query($input: QuoteRedemptionInput!) { quoteRedemption(input: $input) {
    errors { field code message } points available availableAfter crossBranch
    lines { quantity unitPoints points item { code name } } lots { expiresOn points } } }"""
QUOTE_LISTS = ["RedemptionQuote.errors", "RedemptionQuote.lines", "RedemptionQuote.lots"]


async def test_a_quotes_lists_cost_the_same_statements_whatever_their_length(api, statements):
    # given a quote of one pack of minutes, which one of Li Wei's two lots pays, and bill credit beyond its limit
    asked = [{"itemId": gid("RewardItem", api.demo.rewards["MIN-60"]), "quantity": 1},
             {"itemId": gid("RewardItem", api.demo.rewards["BILL-10"]), "quantity": 6}]  # fmt: skip
    small = await measure(api, statements, QUOTE, {"input": {"items": asked, "channel": "WEB"}}, as_="member")
    # when he has 30 more lots, and asks for 18 more rewards, of which 10 he may not have
    await api.scalar(
        """INSERT INTO points_lot (member_id, amount, remaining, earned_on, expires_on)
           SELECT :member, 10, 10, :today, CAST(:today AS date) + g FROM generate_series(1, 30) g RETURNING 1""",
        member=api.demo.members["Li Wei"],
        today=today(),
    )
    await api.scalar("UPDATE points_balance SET posted = posted + 300 WHERE member_id = :m RETURNING 1",
                     m=api.demo.members["Li Wei"])  # fmt: skip
    asked += [{"itemId": gid("RewardItem", i), "quantity": 1} for i in await more_items(api, 8)]
    asked += [{"itemId": gid("RewardItem", i), "quantity": 1} for i in await more_items(api, 10, status="DRAFT")]
    large = await measure(api, statements, QUOTE, {"input": {"items": asked, "channel": "WEB"}}, as_="member")
    # then the longer lists cost the same statements
    shown, more = small.data("quoteRedemption"), large.data("quoteRedemption")
    for field in ("errors", "lines", "lots"):
        assert 0 < len(shown[field]) < len(more[field]), (field, shown, more)
    for coordinate in QUOTE_LISTS:
        assert_same_statements(coordinate, {"short": small, "long": large}, STATEMENTS[coordinate])


# --- bookings -----------------------------------------------------------------------------------------


async def test_starting_a_bookings_run_sends_exactly_its_statements(api, app, statements):
    # given a booking, and the run's background work held back (its statements are not the request's)
    await api.scalar(
        """INSERT INTO auto_redemption (member_id, item_id, quantity, start_month, status)
           VALUES (:member, :item, 1, date_trunc('month', current_date), 'ACTIVE') RETURNING 1""",
        member=api.demo.members["Li Wei"], item=api.demo.rewards["MIN-60"],
    )  # fmt: skip
    with HeldJobs(app.state.services.jobs) as jobs:
        # when the headquarters administrator starts this month's run
        measured = await measure_case(api, statements, "runAutoRedemption")
        # then it was accepted with exactly the recorded number of statements, and its work waits to start
        assert len(jobs.held) == 1
    assert_statements("runAutoRedemption", measured, STATEMENTS["runAutoRedemption"])


AUTO_RUNS = """{ autoRedemptionRuns { id month status bookingsTotal bookings redeemed skipped points error
    startedAt finishedAt startedBy { username branch { code } } } }"""


async def test_the_bookings_runs_cost_the_same_statements_whatever_their_number(api, statements):
    async def more_runs(count: int) -> None:
        await api.scalar(
            """INSERT INTO job_run (kind, subject, status, staff_id, total, figures, finished_at)
               SELECT 'AUTO_REDEMPTION', to_char(DATE '2020-01-01' + make_interval(months => g), 'YYYY-MM'), 'DONE',
                      :staff, 10, '{"bookings": 10}', now()
               FROM generate_series(CAST(:first AS int), CAST(:first AS int) + CAST(:count AS int) - 1) g
               RETURNING 1""",
            staff=api.demo.staff["admin"], count=count, first=next(CODES),
        )  # fmt: skip

    await more_runs(1)
    small = await measure(api, statements, AUTO_RUNS, as_="hq_admin")
    await more_runs(15)
    large = await measure(api, statements, AUTO_RUNS, as_="hq_admin")
    assert len(small.data("autoRedemptionRuns")) + 15 == len(large.data("autoRedemptionRuns"))
    assert_same_statements("autoRedemptionRuns", {"1": small, "16": large}, STATEMENTS["autoRedemptionRuns"])


MY_BOOKINGS = """{ me { autoRedemptions { id quantity startMonth endMonth status createdAt item { code }
    member { memberNumber } executions { month outcome reason executedAt redemption { id points } } } } }"""


async def more_bookings(api, count: int, months: int) -> None:
    """`count` more bookings of Li Wei's, each with `months` executions (redeemed, with a redemption)."""
    await api.scalar(
        """WITH b AS (INSERT INTO auto_redemption (member_id, item_id, quantity, start_month, status)
                      SELECT :member, :item, 1, '2024-01-01', 'ACTIVE'
                      FROM generate_series(1, CAST(:count AS int)) RETURNING id)
           INSERT INTO auto_redemption_execution (booking_id, month, member_id, outcome, reason)
           SELECT b.id, DATE '2024-01-01' + make_interval(months => m), :member, 'SKIPPED', 'INSUFFICIENT_POINTS'
           FROM b, generate_series(0, CAST(:months AS int) - 1) m RETURNING 1""",
        member=api.demo.members["Li Wei"], item=api.demo.rewards["MIN-60"], count=count, months=months,
    )  # fmt: skip


async def test_a_members_bookings_and_their_runs_cost_the_same_statements_whatever_their_number(api, statements):
    # given a booking with one month run
    await more_bookings(api, 1, 1)
    small = await measure(api, statements, MY_BOOKINGS, as_="member")
    # when there are 20 more bookings, of 12 months each, and the member asks again
    await more_bookings(api, 20, 12)
    large = await measure(api, statements, MY_BOOKINGS, as_="member")
    # then they cost the same statements
    assert len(small.data("me")["autoRedemptions"]) + 20 == len(large.data("me")["autoRedemptions"])
    for coordinate in ("Member.autoRedemptions", "AutoRedemption.executions"):
        assert_same_statements(coordinate, {"1": small, "21": large}, STATEMENTS[coordinate])
