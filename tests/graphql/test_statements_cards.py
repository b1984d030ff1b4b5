"""Statements per request, cards (resolvers/cards and the Card type's history)."""

from __future__ import annotations

import pytest

from domain import clock
from tests.api import gid
from tests.graphql.cases import CASES
from tests.statement_counts import (
    add_members,
    assert_same_statements,
    assert_statements,
    measure,
    measure_case,
    transaction_control,
)

# Exactly how many SQL statements each request sends, its authentication included.
STATEMENTS = {
    "receiveCardBatch": 6,
    "issueCards": 5,
    "transferCards": 5,
    "returnCards": 5,
    "voidCards": 4,
    "setCardState": 4,
    "applyForCard": 7,
    "approveCardApplication": 6,
    "handOverCard": 11,
    "reportCardLost": 8,  # a proof from staff: their account is not throttled
    "unfreezeCard": 7,
    "reissueCard": 13,
    "replaceCard": 13,
    "cancelCard": 6,
    "changeCardPin": 6,
    "resetCardPin": 8,
    "cards": 10,  # the staff who received a batch and who did an operation: one batch
    "cardEvents": 4,
    "cardApplications": 6,
    "cardStockCount": 6,
    "Card.history": 5,
}

MUTATIONS = [
    "receiveCardBatch",
    "issueCards",
    "transferCards",
    "returnCards",
    "voidCards",
    "setCardState",
    "applyForCard",
    "approveCardApplication",
    "handOverCard",
    "reportCardLost",
    "unfreezeCard",
    "reissueCard",
    "replaceCard",
    "cancelCard",
    "changeCardPin",
    "resetCardPin",
]


@pytest.mark.parametrize("mutation", ["reportCardLost", "unfreezeCard"])
async def test_a_member_moving_their_own_card_is_one_round_trip_after_authentication(
    api, statements, monkeypatch, mutation
):
    # given Li Wei, logged in, and his card in the state the request needs (tests/graphql/cases)
    case = CASES[mutation]
    variables = {"input": await case.make_input(api, "member")}
    await api.token("member")
    # when he reports it lost, or unfreezes it
    with transaction_control(monkeypatch) as sent:
        measured = await measure(api, statements, case.query(), variables, as_="member")
    # then it succeeded with its authentication and one statement, and no BEGIN or COMMIT around it
    assert measured.data(mutation)["errors"] == []
    assert_statements(mutation, measured, 2)
    assert sent == []


@pytest.mark.parametrize("mutation", MUTATIONS)
async def test_a_successful_mutation_sends_exactly_its_statements(api, statements, mutation):
    # given the demo data and a valid request from an allowed caller (tests/graphql/cases.py)
    # when the caller sends it
    measured = await measure_case(api, statements, mutation)
    # then it succeeded with exactly the recorded number of statements
    assert_statements(mutation, measured, STATEMENTS[mutation])


LI_WEI_CARD = "6211000000000001"  # the first of Guangdong's 50 Diamond cards
CARDS_PAGE = """query($first: Int) { cards(first: $first, filter: {numberFrom: "6211000000000001"}) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id number cardType state validUntil locked replacesNumber replacedByNumber
        branch { code } holderClub { code name } holderStaff { username } member { memberNumber grade { name } }
        batch { cardCount firstNumber lastNumber source branch { code } receivedBy { username } }
        history { action stateBefore stateAfter channel occurredAt staff { username } } } } } }"""


async def test_a_cards_page_costs_the_same_statements_whatever_its_size(api, statements):
    # given Guangdong's 50 Diamond cards, each with a holding club, a holding manager, a member and an event
    # (not states a card reaches this way: read-only, they give every row every nested object)
    await api.scalar(
        """WITH dressed AS (UPDATE card SET holder_club_id = :club, holder_staff_id = :manager, member_id = :member
                            WHERE number BETWEEN 6211000000000001 AND 6211000000000050 RETURNING number, card_type)
           INSERT INTO card_event (card_number, card_type, action, state_before, state_after, branch_id, staff_id,
                                   channel)
           SELECT number, card_type, 'TRANSFER', 'ISSUED', 'ISSUED', :branch, :manager, 'COUNTER' FROM dressed
           RETURNING 1""",
        club=api.demo.clubs["GD-CLUB"],
        manager=api.demo.staff["gd.manager"],
        member=api.demo.members["Li Wei"],
        branch=api.demo.branches["GD"],
    )
    # when a page of 1 and a page of 50 are fetched with what a card list shows
    by_size = {}
    for first in (1, 50):
        by_size[first] = await measure(api, statements, CARDS_PAGE, {"first": first}, as_="hq_admin")
        assert len(by_size[first].data("cards")["edges"]) == first
    # then both cost the same statements: every nested object is batched
    assert_same_statements("cards", by_size, STATEMENTS["cards"])


EVENTS_PAGE = """query($first: Int) { cardEvents(first: $first) { pageInfo { hasNextPage endCursor }
    edges { cursor node { cardNumber cardType action stateBefore stateAfter channel reason detail occurredAt
        staff { username branch { code } } } } } }"""


async def test_a_card_events_page_costs_the_same_statements_whatever_its_size(api, statements):
    # given 50 more card events: Guangdong's Emerald cards issued to its club
    issued = await api.data(
        """mutation($input: IssueCardsInput!) { issueCards(input: $input) { errors { code } count } }""",
        {
            "input": {
                "numberFrom": "6221000000000001",
                "numberTo": "6221000000000050",
                "toClubId": gid("Club", api.demo.clubs["GD-CLUB"]),
                "receivedBy": "Club desk",
            }
        },
        as_="club_operator",
    )
    assert issued["issueCards"] == {"errors": [], "count": 50}
    # when a page of 1 and a page of 50 are fetched with who did each operation
    by_size = {}
    for first in (1, 50):
        by_size[first] = await measure(api, statements, EVENTS_PAGE, {"first": first}, as_="hq_admin")
        assert len(by_size[first].data("cardEvents")["edges"]) == first
    # then both cost the same statements
    assert_same_statements("cardEvents", by_size, STATEMENTS["cardEvents"])


APPLICATIONS_PAGE = """query($first: Int) { cardApplications(first: $first) { pageInfo { hasNextPage endCursor }
    edges { cursor node { id status pickupAt pickupPlace createdAt cardNumber
        member { memberNumber grade { name } club { name } customer { name } } } } } }"""


async def test_a_card_applications_page_costs_the_same_statements_whatever_its_size(api, statements):
    # given 60 more members in Guangdong, each with an open application for a card
    await add_members(api, 60)
    await api.scalar(
        """INSERT INTO card_application (member_id, status, pickup_place, requested_by_staff_id)
           SELECT id, 'REQUESTED', 'Tianhe counter', :staff FROM member WHERE member_number LIKE '5%' ORDER BY id
           RETURNING 1""",
        staff=api.demo.staff["gd.agent"],
    )
    # when a page of 1 and a page of 50 are fetched with each applicant
    by_size = {}
    for first in (1, 50):
        by_size[first] = await measure(api, statements, APPLICATIONS_PAGE, {"first": first}, as_="hq_admin")
        assert len(by_size[first].data("cardApplications")["edges"]) == first
    # then both cost the same statements
    assert_same_statements("cardApplications", by_size, STATEMENTS["cardApplications"])


STOCK_COUNT = """query($branch: ID!, $from: Date!, $to: Date!) {
    cardStockCount(branchId: $branch, from: $from, to: $to) { cardType received issued returned voided onHandNow } }"""


async def test_a_stock_count_costs_the_same_statements_whatever_the_stock(api, statements):
    year = clock.today().year
    variables = {"branch": gid("Branch", api.demo.branches["GD"]), "from": f"{year}-01-01", "to": f"{year}-12-31"}
    # given the demo's stock in Guangdong
    small = await measure(api, statements, STOCK_COUNT, variables, as_="hq_admin")
    # when 100 more cards are received and 45 of them voided, and staff count again
    for mutation in (
        """mutation { receiveCardBatch(input: {cardType: "SAPPHIRE", validUntil: "2035-12-31",
            numberFrom: "6291000000000001", numberTo: "6291000000000100"}) { errors { code } } }""",
        """mutation { voidCards(input: {reason: "Bent", numberFrom: "6291000000000001",
            numberTo: "6291000000000045"}) { errors { code } } }""",
    ):
        assert "errors" not in await api.gql(mutation, as_="club_operator")
    large = await measure(api, statements, STOCK_COUNT, variables, as_="hq_admin")
    # then it costs the same statements
    assert small.data("cardStockCount") != large.data("cardStockCount")
    assert_same_statements("cardStockCount", {"demo": small, "more stock": large}, STATEMENTS["cardStockCount"])


CARD_HISTORY = """query($number: String!) { card(number: $number) { number
    history { action stateBefore stateAfter channel reason occurredAt staff { username branch { code } } } } }"""


async def test_a_cards_history_costs_the_same_statements_whatever_its_length(api, statements):
    variables = {"number": LI_WEI_CARD}
    # given Li Wei's card with its hand-over
    small = await measure(api, statements, CARD_HISTORY, variables, as_="hq_admin")
    # when it has 30 more operations, and staff ask again
    await api.scalar(
        """INSERT INTO card_event (card_number, card_type, action, state_before, state_after, branch_id, member_id,
                                   staff_id, channel, reason)
           SELECT number, card_type, 'REPORT_LOST', 'ACTIVE', 'LOST', branch_id, member_id, :staff, 'COUNTER',
                  'Lost ' || g
           FROM card, generate_series(1, 30) g WHERE number = :number RETURNING 1""",
        staff=api.demo.staff["gd.agent"],
        number=int(LI_WEI_CARD),
    )
    large = await measure(api, statements, CARD_HISTORY, variables, as_="hq_admin")
    # then the longer history cost the same statements
    assert len(small.data("card")["history"]) + 30 == len(large.data("card")["history"])
    assert_same_statements("Card.history", {"demo": small, "30 more": large}, STATEMENTS["Card.history"])
