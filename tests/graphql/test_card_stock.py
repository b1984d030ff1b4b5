"""Card stock: receive, issue, transfer, return, void, set state, count, and queries."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from domain import clock
from tests.api import gid, top_codes

STOCK_FIELDS = "errors { field code message } count batch { cardType cardCount firstNumber lastNumber source }"


def stock_mutation(name: str, input_type: str) -> str:
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {STOCK_FIELDS} }} }}"


RECEIVE = stock_mutation("receiveCardBatch", "ReceiveCardBatchInput")
ISSUE = stock_mutation("issueCards", "IssueCardsInput")
TRANSFER = stock_mutation("transferCards", "TransferCardsInput")
RETURN = stock_mutation("returnCards", "ReturnCardsInput")
VOID = stock_mutation("voidCards", "VoidCardsInput")
SET_STATE = stock_mutation("setCardState", "SetCardStateInput")
CARD = """query($number: String!) { card(number: $number) { number cardType state validUntil branch { code }
    holderClub { code } holderStaff { username } batch { cardCount source }
    history { action stateBefore stateAfter channel reason detail staff { username } } } }"""


def codes(answer: dict, mutation: str) -> list[tuple]:
    return [(e["field"], e["code"]) for e in answer[mutation]["errors"]]


async def card(api, number: str, who: str = "hq_admin") -> dict | None:
    return (await api.data(CARD, {"number": number}, as_=who))["card"]


async def refused(api, query, variables, who, mutation) -> list[tuple]:
    """Run a mutation that must fail; prove it wrote nothing; its (field, code) list."""
    await api.token(who)
    before = await api.fingerprint()
    answer = await api.data(query, variables, as_=who)
    assert await api.fingerprint() == before
    return codes(answer, mutation)


# --- receive ---------------------------------------------------------------------------------


async def test_a_range_is_received_into_the_branch_stock(api):
    variables = {"input": {"cardType": "DIAMOND", "validUntil": "2035-12-31", "numberFrom": "6500000000000001",
                           "numberTo": "6500000000001000", "source": "Maker lot 7"}}  # fmt: skip
    answer = (await api.data(RECEIVE, variables, as_="club_operator"))["receiveCardBatch"]
    assert answer["count"] == 1_000
    assert answer["batch"] == {"cardType": "DIAMOND", "cardCount": 1000, "firstNumber": "6500000000000001",
                               "lastNumber": "6500000000001000", "source": "Maker lot 7"}  # fmt: skip
    received = await card(api, "6500000000000500", "club_operator")
    assert (received["state"], received["branch"]["code"], received["validUntil"]) == ("INITIAL", "GD", "2035-12-31")


async def test_a_list_is_received(api):
    variables = {"input": {"cardType": "SAPPHIRE", "validUntil": "2035-12-31", "numbers": ["65100001", "65100009"]}}
    assert (await api.data(RECEIVE, variables, as_="hq_admin"))["receiveCardBatch"]["count"] == 2


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"numberFrom": "6210000000000040", "numberTo": "6210000000000060"}, "numbers", "DUPLICATE"),  # overlaps HQ's
        ({"numberFrom": "6600000000000010", "numberTo": "6600000000000001"}, "numberTo", "INVALID"),  # reversed
        ({"numberFrom": "6600000000000001", "numberTo": "6600000001000001"}, "numberTo", "OUT_OF_RANGE"),  # 1,000,001
        ({"numberFrom": "66000001", "numberTo": "660000001"}, "numberTo", "INVALID"),  # lengths differ
        ({"numberFrom": "0600000000000001"}, "numberFrom", "INVALID"),  # leading zero
        ({"numberFrom": "66000000000000x1"}, "numberFrom", "INVALID"),
        ({"numberFrom": None, "numberTo": None}, "numberFrom", "REQUIRED"),
        ({"numbers": ["66000001"]}, "numbers", "INVALID"),  # both a range and a list
        ({"cardType": "GOLD"}, "cardType", "NOT_FOUND"),
        ({"validUntil": "2020-01-01"}, "validUntil", "OUT_OF_RANGE"),
        ({"source": "s" * 101}, "source", "TOO_LONG"),
    ],
)
async def test_receive_refusals_write_nothing(api, changes, field, code):
    good = {"cardType": "DIAMOND", "validUntil": "2035-12-31", "numberFrom": "6600000000000001",
            "numberTo": "6600000000000100"}  # fmt: skip
    assert await refused(api, RECEIVE, {"input": good | changes}, "hq_admin", "receiveCardBatch") == [
        (["input", field], code)
    ]


@pytest.mark.parametrize(
    ("numbers", "code"),
    [(["66000001", "66000001"], "DUPLICATE"), ([str(66000000 + i) for i in range(1_001)], "OUT_OF_RANGE")],
)
async def test_receive_list_refusals(api, numbers, code):
    variables = {"input": {"cardType": "DIAMOND", "validUntil": "2035-12-31", "numbers": numbers}}
    assert await refused(api, RECEIVE, variables, "hq_admin", "receiveCardBatch") == [(["input", "numbers"], code)]


async def test_an_overlap_names_the_cards_already_there(api):
    variables = {
        "input": {"cardType": "DIAMOND", "validUntil": "2035-12-31", "numbers": ["6210000000000007", "66000001"]}
    }
    answer = await api.data(RECEIVE, variables, as_="hq_admin")
    assert "6210000000000007" in answer["receiveCardBatch"]["errors"][0]["message"]


async def test_two_batches_of_the_same_cards_received_at_once_one_wins_the_other_names_them(api):
    # given two receipts of the same hundred cards at the same moment
    variables = {"input": {"cardType": "DIAMOND", "validUntil": "2035-12-31", "numberFrom": "6600000000000001",
                           "numberTo": "6600000000000100"}}  # fmt: skip
    answers = await asyncio.gather(*(api.data(RECEIVE, variables, as_=who) for who in ("hq_admin", "hq_admin")))
    # then one receives them, and the other is told which are in the system already, with the field
    outcomes = sorted((a["receiveCardBatch"]["count"] or 0, codes(a, "receiveCardBatch")) for a in answers)
    assert outcomes == [(0, [(["input", "numbers"], "DUPLICATE")]), (100, [])]
    refused = next(a for a in answers if a["receiveCardBatch"]["errors"])
    assert "6600000000000001" in refused["receiveCardBatch"]["errors"][0]["message"]
    assert await api.scalar("SELECT count(*) FROM card_batch WHERE first_number = 6600000000000001") == 1


# --- issue, transfer, return, void, set state ------------------------------------------------------


async def test_gd_issues_its_own_cards_to_a_club_below(api):
    sz_club = gid("Club", api.demo.clubs["SZ-CLUB"])
    variables = {"input": {"numberFrom": "6221000000000001", "numberTo": "6221000000000010", "toClubId": sz_club,
                           "receivedBy": "Ms Chen", "place": "SZ office"}}  # fmt: skip
    assert (await api.data(ISSUE, variables, as_="club_operator"))["issueCards"]["count"] == 10
    issued = await card(api, "6221000000000005")
    assert (issued["state"], issued["branch"]["code"], issued["holderClub"]) == ("ISSUED", "SZ", {"code": "SZ-CLUB"})
    assert issued["history"] == [
        {"action": "ISSUE", "stateBefore": "INITIAL", "stateAfter": "ISSUED", "channel": "COUNTER", "reason": None,
         "detail": {"club": "SZ-CLUB", "receivedBy": "Ms Chen", "place": "SZ office"},
         "staff": {"username": "gd.operator"}}
    ]  # fmt: skip


async def test_cards_can_be_issued_to_a_customer_manager(api):
    manager = gid("Staff", api.demo.staff["gd.manager"])
    variables = {"input": {"numbers": ["6231000000000001"], "toStaffId": manager, "receivedBy": "gd.manager"}}
    await api.data(ISSUE, variables, as_="administrator")
    assert (await card(api, "6231000000000001"))["holderStaff"] == {"username": "gd.manager"}


def issue_input(api, **changes):
    gd_club = gid("Club", api.demo.clubs["GD-CLUB"])
    base = {"numberFrom": "6211000000000021", "numberTo": "6211000000000025", "toClubId": gd_club, "receivedBy": "desk"}
    return {k: v for k, v in (base | changes).items() if v is not None}


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"numberFrom": "6210000000000001", "numberTo": "6210000000000002"}, "numbers", "NOT_FOUND"),  # HQ's stock
        ({"numberFrom": "6299000000000001", "numberTo": "6299000000000002"}, "numbers", "NOT_FOUND"),  # no such cards
        ({"numberFrom": None, "numberTo": None, "numbers": ["6211000000000001"]}, "numbers", "CARDS_NOT_MOVABLE"),
        ({"toClubId": None}, "toClubId", "REQUIRED"),
        ({"toStaffId": "gd.agent"}, "toStaffId", "INVALID"),  # a club and a person: one only
        ({"toClubId": None, "toStaffId": "gd.agent"}, "toStaffId", "NOT_FOUND"),  # not a customer manager
        ({"toClubId": "BJ-CLUB"}, "toClubId", "NOT_FOUND"),
        ({"receivedBy": ""}, "receivedBy", "REQUIRED"),
    ],
)
async def test_issue_refusals_change_nothing(api, changes, field, code):
    named = {"gd.agent": gid("Staff", api.demo.staff["gd.agent"]), "BJ-CLUB": gid("Club", api.demo.clubs["BJ-CLUB"])}
    variables = {
        "input": issue_input(api, **{k: named.get(v, v) if isinstance(v, str) else v for k, v in changes.items()})
    }
    assert await refused(api, ISSUE, variables, "club_operator", "issueCards") == [(["input", field], code)]


async def test_cards_issued_below_are_no_longer_the_issuers_to_issue(api):
    sz_club = gid("Club", api.demo.clubs["SZ-CLUB"])
    await api.data(ISSUE, {"input": issue_input(api, toClubId=sz_club)}, as_="club_operator")
    again = {"input": issue_input(api)}
    assert await refused(api, ISSUE, again, "club_operator", "issueCards") == [
        (["input", "numbers"], "CARDS_NOT_MOVABLE")
    ]


async def test_one_ineligible_card_stops_the_whole_range(api):
    # given a range whose last card belongs to a member
    variables = {"input": {"numberFrom": "6210999999999999", "numberTo": "6211000000000001", "reason": "x"}}
    answer = await api.data(VOID, variables, as_="hq_admin")
    assert codes(answer, "voidCards") == [(["input", "numbers"], "NOT_FOUND")]
    variables = {"input": {"numberFrom": "6211000000000001", "numberTo": "6211000000000003", "reason": "x"}}
    answer = await api.data(VOID, variables, as_="hq_admin")
    assert codes(answer, "voidCards") == [(["input", "numbers"], "CARDS_NOT_MOVABLE")]
    assert "6211000000000001" in answer["voidCards"]["errors"][0]["message"]
    assert (await card(api, "6211000000000002"))["state"] == "INITIAL"


async def test_transfer_moves_issued_cards_only(api):
    manager = gid("Staff", api.demo.staff["gd.manager"])
    moved = {
        "input": {"numberFrom": "6211000000000011", "numberTo": "6211000000000012", "toStaffId": manager, "reason": "r"}
    }
    assert (await api.data(TRANSFER, moved, as_="club_operator"))["transferCards"]["count"] == 2
    assert (await card(api, "6211000000000012"))["holderStaff"] == {"username": "gd.manager"}
    initial = {"input": {"numbers": ["6211000000000030"], "toStaffId": manager}}
    assert await refused(api, TRANSFER, initial, "club_operator", "transferCards") == [
        (["input", "numbers"], "CARDS_NOT_MOVABLE")
    ]


async def test_return_sends_unused_cards_to_the_parent_branch(api):
    variables = {"input": {"numberFrom": "6211000000000031", "numberTo": "6211000000000040", "reason": "Surplus"}}
    assert (await api.data(RETURN, variables, as_="club_operator"))["returnCards"]["count"] == 10
    returned = await card(api, "6211000000000035")
    assert (returned["state"], returned["branch"]["code"]) == ("RETURNED", "HQ")
    # and HQ may issue them again
    again = {
        "input": {
            "numbers": ["6211000000000035"],
            "toClubId": gid("Club", api.demo.clubs["BJ-CLUB"]),
            "receivedBy": "BJ",
        }
    }
    assert (await api.data(ISSUE, again, as_="hq_admin"))["issueCards"]["count"] == 1


async def test_headquarters_has_no_parent_to_return_to(api):
    variables = {"input": {"numbers": ["6210000000000001"]}}
    assert await refused(api, RETURN, variables, "hq_admin", "returnCards") == [
        (["input", "numbers"], "NO_PARENT_BRANCH")
    ]


async def test_void_needs_a_reason_and_voided_cards_cannot_be_issued(api):
    no_reason = {"input": {"numbers": ["6211000000000041"], "reason": " "}}
    assert await refused(api, VOID, no_reason, "club_operator", "voidCards") == [(["input", "reason"], "REQUIRED")]
    await api.data(VOID, {"input": {"numbers": ["6211000000000041"], "reason": "Cracked"}}, as_="club_operator")
    issue = {
        "input": {
            "numbers": ["6211000000000041"],
            "toClubId": gid("Club", api.demo.clubs["GD-CLUB"]),
            "receivedBy": "x",
        }
    }
    assert await refused(api, ISSUE, issue, "club_operator", "issueCards") == [
        (["input", "numbers"], "CARDS_NOT_MOVABLE")
    ]


@pytest.mark.parametrize(
    ("number", "state", "code", "field"),
    [
        ("6211000000000041", "ISSUED", "INVALID", "state"),  # issue through issueCards
        ("6211000000000001", "VOID", "CARDS_NOT_MOVABLE", "numbers"),  # a member's card
        ("6211000000000041", "INITIAL", "CARDS_NOT_MOVABLE", "numbers"),  # INITIAL already
    ],
)
async def test_set_card_state_refusals(api, number, state, code, field):
    variables = {"input": {"numbers": [number], "state": state, "reason": "Count correction"}}
    assert await refused(api, SET_STATE, variables, "club_operator", "setCardState") == [(["input", field], code)]


async def test_set_card_state_corrects_a_mistaken_void(api):
    # given three cards voided
    numbers = ["6211000000000042", "6211000000000043", "6211000000000044"]
    await api.data(VOID, {"input": {"numbers": numbers, "reason": "Looked bent"}}, as_="club_operator")
    # when one of them is found fine
    variables = {"input": {"numbers": ["6211000000000042"], "state": "INITIAL", "reason": "It was fine"}}
    assert (await api.data(SET_STATE, variables, as_="club_operator"))["setCardState"]["count"] == 1
    # then its history tells both, and the day's count nets the correction: two voided, as two are out of stock
    assert [h["action"] for h in (await card(api, "6211000000000042"))["history"]] == ["VOID", "SET_STATE"]
    today = clock.today().isoformat()
    counted = await api.data(COUNT, {"branch": gid("Branch", api.demo.branches["GD"]), "from": today, "to": today},
                             as_="auditor")  # fmt: skip
    diamond = counted["cardStockCount"][0]
    assert (diamond["cardType"], diamond["voided"]) == ("DIAMOND", 2)


async def test_two_operators_issuing_the_same_cards_at_once_one_wins(api):
    # given two GD staff issuing the same five cards down to Shenzhen at the same moment
    clubs = [gid("Club", api.demo.clubs["SZ-CLUB"])] * 2
    callers = ["club_operator", "administrator"]
    for who in callers:
        await api.token(who)
    requests = [
        api.gql(
            ISSUE,
            {
                "input": {
                    "numberFrom": "6221000000000021",
                    "numberTo": "6221000000000025",
                    "toClubId": club,
                    "receivedBy": who,
                }
            },
            as_=who,
        )  # fmt: skip
        for club, who in zip(clubs, callers, strict=True)
    ]
    answers = await asyncio.gather(*requests)
    # then one issue succeeds and the other finds the cards no longer held by GD
    outcomes = sorted(tuple(e["code"] for e in a["data"]["issueCards"]["errors"]) for a in answers)
    assert outcomes == [(), ("CARDS_NOT_MOVABLE",)]
    events = await api.scalar(
        "SELECT count(*) FROM card_event WHERE card_number BETWEEN 6221000000000021 AND 6221000000000025"
    )
    assert events == 5


# --- counts and queries ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("""query($b: ID!, $d: Date!) { cardStockCount(branchId: $b, from: "2026-01-01", to: $d) { cardType } }""",
         {"d": "9999-12-31"}),
        ("""query($b: ID!, $d: Date!) { cardStockCount(branchId: $b, from: $d, to: "2026-01-01") { cardType } }""",
         {"d": "0001-01-01"}),
        ("""query($b: ID!) { cardStockCount(branchId: $b, from: "2026-01-01", to: "9999-12-31") { cardType } }""", {}),
        ("""query($d: Date!) { cardEvents(filter: {occurredTo: $d}) { edges { cursor } } }""", {"d": "2200-01-01"}),
        ("""query($d: Date!) { cardEvents(filter: {occurredFrom: $d}) { edges { cursor } } }""", {"d": "1899-12-31"}),
    ],
)  # fmt: skip
async def test_a_date_far_from_today_in_any_argument_is_out_of_range(api, query, variables):
    # given a date beyond what any argument takes, as a variable or written in the document
    variables = variables | ({"b": gid("Branch", api.demo.branches["GD"])} if "$b" in query else {})
    # when it is sent, then it is refused at the edge as out of range, never an internal error
    answer = await api.gql(query, variables, as_="hq_admin")
    assert top_codes(answer) == ["OUT_OF_RANGE"], answer


COUNT = """query($branch: ID!, $from: Date!, $to: Date!) { cardStockCount(branchId: $branch, from: $from, to: $to) {
    cardType received issued returned voided onHandNow } }"""


async def test_stock_count_for_a_branch_and_below_in_an_inclusive_period(api):
    today = clock.today().isoformat()
    await api.data(VOID, {"input": {"numbers": ["6231000000000050"], "reason": "x"}}, as_="club_operator")
    await api.data(
        RETURN, {"input": {"numberFrom": "6231000000000040", "numberTo": "6231000000000049"}}, as_="club_operator"
    )
    gd = gid("Branch", api.demo.branches["GD"])
    counts = (await api.data(COUNT, {"branch": gd, "from": today, "to": today}, as_="auditor"))["cardStockCount"]
    assert counts == [
        {"cardType": "DIAMOND", "received": 50, "issued": 10, "returned": 0, "voided": 0, "onHandNow": 49},
        {"cardType": "EMERALD", "received": 50, "issued": 0, "returned": 0, "voided": 0, "onHandNow": 50},
        {"cardType": "SAPPHIRE", "received": 50, "issued": 0, "returned": 10, "voided": 1, "onHandNow": 39},
    ]
    hq = gid("Branch", api.demo.branches["HQ"])
    whole = (await api.data(COUNT, {"branch": hq, "from": today, "to": today}, as_="hq_admin"))["cardStockCount"]
    assert [c["received"] for c in whole] == [100, 100, 100]
    yesterday = date.fromordinal(clock.today().toordinal() - 1).isoformat()
    before = (await api.data(COUNT, {"branch": gd, "from": yesterday, "to": yesterday}, as_="auditor"))[
        "cardStockCount"
    ]
    assert [c["received"] for c in before] == [0, 0, 0]


@pytest.mark.parametrize(
    ("who", "period", "code"),
    [("auditor", ("2026-02-01", "2026-01-01"), "INVALID"), ("other_branch_operator", None, "NOT_FOUND"),
     ("auditor", ("2000-01-01", "2026-01-01"), "OUT_OF_RANGE")],
)  # fmt: skip
async def test_stock_count_refusals(api, who, period, code):
    start, end = period or (clock.today().isoformat(), clock.today().isoformat())
    answer = await api.gql(COUNT, {"branch": gid("Branch", api.demo.branches["GD"]), "from": start, "to": end}, as_=who)
    assert answer["errors"][0]["extensions"]["code"] == code


LIST = """query($filter: CardFilter, $first: Int) { cards(filter: $filter, first: $first) {
    edges { node { number state } } pageInfo { hasNextPage } } }"""


@pytest.mark.parametrize(
    ("filter", "expected_first", "count"),
    [
        ({"numberFrom": "6211000000000011", "numberTo": "6211000000000013"}, "6211000000000011", 3),
        ({"states": ["ACTIVE"]}, "6211000000000001", 1),
        ({"states": ["ISSUED"], "cardType": "DIAMOND"}, "6211000000000011", 10),
        ({"holderClubId": "<GD-CLUB>"}, "6211000000000011", 10),
        ({"memberId": "<Li Wei>"}, "6211000000000001", 1),
        ({"operatedFrom": "2000-01-01", "operatedTo": "2000-12-31"}, None, 0),
    ],
)
async def test_cards_are_found_by_range_state_holder_member_and_date(api, filter, expected_first, count):
    placeholders = {
        "<GD-CLUB>": gid("Club", api.demo.clubs["GD-CLUB"]),
        "<Li Wei>": gid("Member", api.demo.members["Li Wei"]),
    }
    filter = {k: placeholders.get(v, v) if isinstance(v, str) else v for k, v in filter.items()}
    edges = (await api.data(LIST, {"filter": filter, "first": 100}, as_="club_operator"))["cards"]["edges"]
    assert len(edges) == count
    assert (edges[0]["node"]["number"] if edges else None) == expected_first


async def test_staff_see_only_cards_in_their_subtree(api):
    assert (await api.data(LIST, {"filter": {"numberFrom": "6210000000000001"}, "first": 5}, as_="club_operator"))[
        "cards"
    ]["edges"][0]["node"]["number"].startswith("6211")
    assert await card(api, "6210000000000001", "club_operator") is None
    assert await card(api, "6211000000000001", "other_branch_operator") is None
    assert await card(api, "6211000000000002", "member") is None


async def test_a_card_is_a_node_under_the_same_rules(api):
    query = "query($id: ID!) { node(id: $id) { ... on Card { number state } } }"
    li_wei = gid("Card", 6211000000000001)
    assert (await api.data(query, {"id": li_wei}, as_="member"))["node"] == {
        "number": "6211000000000001",
        "state": "ACTIVE",
    }
    assert (await api.data(query, {"id": li_wei}, as_="other_member"))["node"] is None
    assert (await api.data(query, {"id": li_wei}, as_="other_branch_operator"))["node"] is None


async def test_a_cards_page_costs_the_same_statements_whatever_its_size(api, statements):
    # pages starting at Li Wei's card, so every nested field has something to load (the 11th card is the
    # first a club holds)
    query = """query($first: Int) { cards(first: $first, filter: {numberFrom: "6211000000000001"}) {
        edges { node { number state branch { code }
        holderClub { code } batch { cardCount receivedBy { username } } member { memberNumber }
        history { action staff { username } } } } } }"""
    await api.token("hq_admin")
    counts = {}
    for size in (12, 60):
        statements.clear()
        assert len((await api.data(query, {"first": size}, as_="hq_admin"))["cards"]["edges"]) == size
        counts[size] = len(statements)
    assert counts[12] == counts[60], counts
