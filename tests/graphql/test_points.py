"""The points ledger through the API: balances, lots, adjustments, reversals, expiry, rules, history."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
import sqlalchemy as sa

from domain.errors import DomainError, ErrorCode
from domain.points import ledger, service
from domain.points.tables import EntryType
from loyalty.database import make_sessions
from tests.api import gid, top_codes

ADJUST = """mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) {
    errors { field code message } replayed
    transaction { id entryType points effectiveOn reason staff { username } } } }"""
REVERSE = """mutation($input: ReversePointsTransactionInput!) { reversePointsTransaction(input: $input) {
    errors { field code message } transaction { id entryType points reverses { id } } } }"""
POINTS = "{ me { points { posted held available expiringSoon(days: 40) { points expiresOn } } } }"


def adjust_input(api, points=100, key="k1", **changes):
    member = gid("Member", api.demo.members["Li Wei"])
    return {"memberId": member, "points": points, "reason": "Goodwill", "idempotencyKey": key} | changes


async def adjust(api, who="club_operator", **kwargs) -> dict:
    return (await api.data(ADJUST, {"input": adjust_input(api, **kwargs)}, as_=who))["adjustPoints"]


async def lots(api, member="Li Wei") -> list[tuple]:
    async with api.engine.connect() as connection:
        rows = await connection.execute(
            sa.text("SELECT amount, remaining, expires_on FROM points_lot WHERE member_id = :m ORDER BY id"),
            {"m": api.demo.members[member]},
        )
        return [tuple(r) for r in rows]


async def test_a_member_without_a_balance_row_yet_is_debited_refused_and_credited(api):
    # given Zhang Min, with no points, whose balance row is not made yet (an old member, say)
    member = gid("Member", api.demo.members["Zhang Min"])
    await api.scalar("DELETE FROM points_balance WHERE member_id = :m RETURNING 1", m=api.demo.members["Zhang Min"])
    # when she is debited, then it is refused with her figures; when credited, her balance row holds it
    debit = await adjust(api, "hq_admin", points=-1, key="z-1", memberId=member)
    assert [(e["code"], e["message"]) for e in debit["errors"]] == [
        ("INSUFFICIENT_POINTS", "The member has 0 points available; 1 are needed.")
    ]
    assert (await adjust(api, "hq_admin", points=100, key="z-2", memberId=member))["errors"] == []
    balance = "SELECT posted - held FROM points_balance WHERE member_id = :m"
    assert await api.scalar(balance, m=api.demo.members["Zhang Min"]) == 100
    assert await api.violations() == []


async def test_a_member_sees_balance_and_points_expiring_soon(api):
    points = (await api.data(POINTS, as_="member"))["me"]["points"]
    # 1,200 earned 2025-06-01 last until the end of 2026 (one year after the year of earning)
    assert points == {"posted": 1500, "held": 0, "available": 1500,
                      "expiringSoon": [{"points": 1200, "expiresOn": "2026-12-31"}]}  # fmt: skip


async def test_an_adjustment_credits_and_spending_takes_the_soonest_expiring_lots_first(api):
    assert (await adjust(api, points=200))["transaction"]["points"] == 200
    assert (await adjust(api, points=-1300, key="k2"))["errors"] == []
    assert await lots(api) == [
        (1200, 0, date(2026, 12, 31)),  # drawn first: it expires first
        (300, 200, date(2027, 12, 31)),  # then the older of two lots ending together
        (200, 200, date(2027, 12, 31)),
    ]
    assert (await api.data(POINTS, as_="member"))["me"]["points"]["available"] == 400
    assert await api.violations() == []


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"points": -1501}, "points", "INSUFFICIENT_POINTS"),
        ({"points": 0}, "points", "OUT_OF_RANGE"),
        ({"points": 10_000_001}, "points", "OUT_OF_RANGE"),
        ({"points": 5, "entryType": "PENALTY"}, "points", "OUT_OF_RANGE"),
        ({"points": -5, "entryType": "BONUS_PROMOTION"}, "points", "OUT_OF_RANGE"),
        ({"entryType": "REDEMPTION"}, "entryType", "INVALID"),
        ({"entryType": "EXPIRY"}, "entryType", "INVALID"),
        ({"reason": " "}, "reason", "REQUIRED"),
        ({"reason": "r" * 501}, "reason", "TOO_LONG"),
        ({"idempotencyKey": ""}, "idempotencyKey", "REQUIRED"),
        ({"idempotencyKey": "k" * 101}, "idempotencyKey", "TOO_LONG"),
        ({"memberId": "<Zhang Min>"}, "memberId", "NOT_FOUND"),  # another branch
        ({"memberId": "<unknown>"}, "memberId", "NOT_FOUND"),
    ],
)
async def test_adjustment_refusals_write_nothing(api, changes, field, code):
    named = {"<Zhang Min>": gid("Member", api.demo.members["Zhang Min"]), "<unknown>": gid("Member", 999)}
    changes = {k: named.get(v, v) if isinstance(v, str) else v for k, v in changes.items()}
    await api.token("club_operator")
    before = await api.fingerprint()
    answer = await api.data(ADJUST, {"input": adjust_input(api, **changes)}, as_="club_operator")
    assert [(e["field"], e["code"]) for e in answer["adjustPoints"]["errors"]] == [(["input", field], code)]
    assert await api.fingerprint() == before


async def test_a_replayed_adjustment_returns_the_first_result_and_moves_points_once(api):
    first = await adjust(api, points=50, key="retry-1")
    again = await adjust(api, points=50, key="retry-1")
    assert again["transaction"]["id"] == first["transaction"]["id"]
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert (await api.data(POINTS, as_="member"))["me"]["points"]["posted"] == 1550
    conflict = await adjust(api, points=51, key="retry-1")
    assert [e["code"] for e in conflict["errors"]] == ["IDEMPOTENCY_CONFLICT"]
    # keys are per caller: another clerk's "retry-1" is a new request
    assert (await adjust(api, who="administrator", points=51, key="retry-1"))["errors"] == []


async def test_concurrent_replays_of_one_adjustment_move_points_once(api):
    await api.token("club_operator")
    answers = await asyncio.gather(*(adjust(api, points=70, key="same") for _ in range(5)))
    assert len({a["transaction"]["id"] for a in answers}) == 1
    assert (await api.data(POINTS, as_="member"))["me"]["points"]["posted"] == 1570


async def test_many_concurrent_debits_never_overdraw(api):
    await api.token("club_operator")
    answers = await asyncio.gather(*(adjust(api, points=-100, key=f"d{i}") for i in range(20)))
    outcomes = sorted(tuple(e["code"] for e in a["errors"]) for a in answers)
    assert outcomes == [()] * 15 + [("INSUFFICIENT_POINTS",)] * 5
    assert (await api.data(POINTS, as_="member"))["me"]["points"]["available"] == 0
    assert await api.violations() == []


async def test_concurrent_movements_of_different_members_all_land(api):
    await api.token("club_operator")
    wang = gid("Member", api.demo.members["Wang Fang"])
    requests = [adjust(api, points=10, key=f"li{i}") for i in range(10)]
    requests += [adjust(api, points=-10, key=f"wang{i}", memberId=wang) for i in range(10)]
    assert all(a["errors"] == [] for a in await asyncio.gather(*requests))
    assert (
        await api.scalar("SELECT posted FROM points_balance WHERE member_id = :m", m=api.demo.members["Wang Fang"])
        == 400
    )
    assert await api.violations() == []


async def test_a_reversal_restores_exactly_the_lots_a_debit_drew_on(api):
    spent = await adjust(api, points=-1250, key="spend")
    before = await lots(api)
    assert before[:2] == [(1200, 0, date(2026, 12, 31)), (300, 250, date(2027, 12, 31))]
    variables = {
        "input": {"transactionId": spent["transaction"]["id"], "reason": "Keyed twice", "idempotencyKey": "r1"}
    }
    reversal = (await api.data(REVERSE, variables, as_="administrator"))["reversePointsTransaction"]
    assert (reversal["transaction"]["entryType"], reversal["transaction"]["points"]) == ("REVERSAL", 1250)
    assert reversal["transaction"]["reverses"] == {"id": spent["transaction"]["id"]}
    assert await lots(api) == [(1200, 1200, date(2026, 12, 31)), (300, 300, date(2027, 12, 31))]
    # replay answers the same; a second reversal, or reversing the reversal, is refused
    assert (await api.data(REVERSE, variables, as_="administrator"))["reversePointsTransaction"] == reversal
    twice = {"input": variables["input"] | {"idempotencyKey": "r2"}}
    assert [
        e["code"] for e in (await api.data(REVERSE, twice, as_="administrator"))["reversePointsTransaction"]["errors"]
    ] == ["TRANSACTION_ALREADY_REVERSED"]
    back = {"input": {"transactionId": reversal["transaction"]["id"], "reason": "x", "idempotencyKey": "r3"}}
    assert [
        e["code"] for e in (await api.data(REVERSE, back, as_="administrator"))["reversePointsTransaction"]["errors"]
    ] == ["REVERSAL_NOT_REVERSIBLE"]
    assert await api.violations() == []


async def test_a_credit_already_spent_cannot_be_reversed(api):
    credit = await adjust(api, points=100, key="c")
    await adjust(api, points=-1600, key="spend-all")
    variables = {"input": {"transactionId": credit["transaction"]["id"], "reason": "x", "idempotencyKey": "r"}}
    answer = (await api.data(REVERSE, variables, as_="administrator"))["reversePointsTransaction"]
    assert [e["code"] for e in answer["errors"]] == ["POINTS_SPENT_OR_EXPIRED"]


async def test_a_credit_whose_lot_has_ended_cannot_be_reversed_before_the_expiry_run(api, today_is):
    # given Li Wei's credit of 1,200 points, whose lot ended on 2026-12-31, and no expiry run since
    credit = await api.scalar(
        "SELECT t.id FROM ledger_transaction t JOIN points_lot l ON l.id = t.lot_id"
        " WHERE t.member_id = :m AND l.expires_on = '2026-12-31'", m=api.demo.members["Li Wei"],
    )  # fmt: skip
    await api.token("administrator")
    today_is(date(2027, 1, 5))
    before = await api.fingerprint()
    # when an administrator reverses it, then it is refused: its points expired (they go to breakage, not back)
    variables = {"input": {"transactionId": gid("PointsTransaction", credit), "reason": "x", "idempotencyKey": "r"}}
    answer = (await api.data(REVERSE, variables, as_="administrator"))["reversePointsTransaction"]
    assert [e["code"] for e in answer["errors"]] == ["POINTS_SPENT_OR_EXPIRED"]
    assert await api.fingerprint() == before


@pytest.mark.parametrize("who", ["club_operator", "agent", "member", "other_branch_admin"])
async def test_only_administrators_in_scope_reverse(api, who):
    credit = await adjust(api, points=100, key="c")
    variables = {"input": {"transactionId": credit["transaction"]["id"], "reason": "x", "idempotencyKey": "r"}}
    await api.token(who)
    before = await api.fingerprint()
    answer = await api.gql(REVERSE, variables, as_=who)
    if who == "other_branch_admin":
        assert [e["code"] for e in answer["data"]["reversePointsTransaction"]["errors"]] == ["NOT_FOUND"]
    else:
        assert top_codes(answer) == ["FORBIDDEN"]
    assert await api.fingerprint() == before


# --- expiry -------------------------------------------------------------------------------------------


async def test_points_are_usable_on_their_last_day_and_expire_the_day_after(api, today_is):
    sessions = make_sessions(api.engine)
    today_is(date(2027, 1, 1))
    assert await service.expire(sessions, date(2026, 12, 31)) == service.ExpiryRun(0, 0)
    assert await service.expire(sessions, date(2027, 1, 1)) == service.ExpiryRun(1, 1200)
    assert await service.expire(sessions, date(2027, 1, 1)) == service.ExpiryRun(0, 0)  # idempotent
    today_is(None)
    query = """{ me { points { available }
        pointsHistory(filter: {entryTypes: [EXPIRY]}) { edges { node { points effectiveOn } } } } }"""
    history = await api.data(query, as_="member")
    assert history["me"]["points"]["available"] == 300
    assert [e["node"] for e in history["me"]["pointsHistory"]["edges"]] == [
        {"points": -1200, "effectiveOn": "2027-01-01"}
    ]
    assert await api.violations() == []


async def test_expiry_never_runs_ahead_of_today(api, today_is):
    # given points valid until 2026-12-31 and today the last day they are valid
    today_is(date(2026, 12, 31))
    before = await api.fingerprint()
    # when an expiry is asked for as of tomorrow
    with pytest.raises(DomainError) as refused:
        await service.expire(make_sessions(api.engine), date(2027, 1, 1))
    # then it is refused and nothing moved; as of today it runs and finds nothing to expire
    assert (refused.value.code, refused.value.problems[0].field) == (ErrorCode.OUT_OF_RANGE, "as_of")
    assert await api.fingerprint() == before
    assert await service.expire(make_sessions(api.engine), date(2026, 12, 31)) == service.ExpiryRun(0, 0)


async def test_an_expiry_is_not_reversed_its_lot_having_ended(api, today_is):
    # given Li Wei's 1,200 points ending 2026-12-31, expired by the run of 2 January
    await api.token("hq_admin")  # signed in today: a token signed on a day to come is not valid yet
    today_is(date(2027, 1, 2))
    await service.expire(make_sessions(api.engine), date(2027, 1, 2))
    expiry = await api.scalar("SELECT id FROM ledger_transaction WHERE entry_type = 'EXPIRY'")
    before = await api.fingerprint()
    # when the expiry is reversed, then it is refused (the points would expire again), and nothing is written
    variables = {"input": {"transactionId": gid("PointsTransaction", expiry), "reason": "Grace", "idempotencyKey": "g"}}
    answer = (await api.data(REVERSE, variables, as_="hq_admin"))["reversePointsTransaction"]
    assert [(e["field"], e["code"]) for e in answer["errors"]] == [
        (["input", "transactionId"], "EXPIRY_NOT_REVERSIBLE")
    ]
    assert await api.fingerprint() == before
    # and they are given back with an adjustment, whose lot lasts as the rules say
    given = await adjust(api, "hq_admin", points=1200, key="back")
    assert given["errors"] == [] and (await lots(api))[-1] == (1200, 1200, date(2028, 12, 31))


# --- history ------------------------------------------------------------------------------------------

HISTORY = """query($id: ID!, $filter: PointsHistoryFilter) { node(id: $id) { ... on Member {
    pointsHistory(filter: $filter) { edges { node { entryType points effectiveOn } } } } } }"""


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        (None, [1200, 300]),
        ({"from": "2025-06-01", "to": "2025-06-01"}, [1200]),  # one day: both ends included
        ({"from": "2026-02-28", "to": "2026-03-01"}, [300]),
        ({"from": "2025-06-02", "to": "2026-02-28"}, []),
        ({"entryTypes": ["BONUS_ACTIVITY"]}, [300]),
    ],
)
async def test_history_filters_by_type_and_inclusive_dates(api, filter, expected):
    member = gid("Member", api.demo.members["Li Wei"])
    data = await api.data(HISTORY, {"id": member, "filter": filter}, as_="agent")
    assert [e["node"]["points"] for e in data["node"]["pointsHistory"]["edges"]] == expected


async def test_history_is_in_the_order_entries_take_effect_even_when_written_late(api):
    # given Li Wei's entries of 2025-06-01 and 2026-03-01, and then one written today for 2025-12-01
    async with make_sessions(api.engine).begin() as session:
        await ledger.record(session, member_id=api.demo.members["Li Wei"], entry_type=EntryType.BONUS_ACTIVITY,
                            points=7, effective_on=date(2025, 12, 1), reason="Late")  # fmt: skip
    query = """query($after: String) { me { pointsHistory(first: 2, after: $after) {
        edges { node { points effectiveOn } } pageInfo { endCursor hasNextPage } } } }"""
    # when the member pages through their history, two at a time
    first = (await api.data(query, as_="member"))["me"]["pointsHistory"]
    after = first["pageInfo"]["endCursor"]
    second = (await api.data(query, {"after": after}, as_="member"))["me"]["pointsHistory"]
    # then the late entry appears in its place, and the pages neither skip nor repeat
    dates = [e["node"]["effectiveOn"] for page in (first, second) for e in page["edges"]]
    assert dates == ["2025-06-01", "2025-12-01", "2026-03-01"]
    assert (first["pageInfo"]["hasNextPage"], second["pageInfo"]["hasNextPage"]) == (True, False)


async def test_history_is_the_members_own_or_staff_in_scope(api):
    member = gid("Member", api.demo.members["Li Wei"])
    assert (await api.gql(HISTORY, {"id": member}, as_="other_branch_operator"))["data"]["node"] is None
    assert (await api.gql(HISTORY, {"id": member}, as_="other_member"))["data"]["node"] is None
    reversed_range = await api.gql(
        HISTORY, {"id": member, "filter": {"from": "2026-02-01", "to": "2026-01-01"}}, as_="agent"
    )
    assert top_codes(reversed_range) == ["INVALID"]


async def test_totals_by_entry_type_for_a_period(api):
    await adjust(api, points=-100, key="t", entryType="PENALTY")
    query = 'query { pointsTotals(from: "2025-01-01", to: "2026-12-31") { entryType points entries } }'
    today_totals = (await api.data(query, as_="auditor"))["pointsTotals"]
    assert today_totals == [
        {"entryType": "BONUS_ACTIVITY", "points": 300, "entries": 1},
        {"entryType": "BONUS_PROMOTION", "points": 1700, "entries": 2},
        {"entryType": "PENALTY", "points": -100, "entries": 1},
    ]
    assert top_codes(await api.gql(query, as_="member")) == ["FORBIDDEN"]


async def test_totals_beyond_32_bits_are_answered(api):
    # given two members credited two thousand million points each this year (more than an `Int` holds)
    for member in ("Li Wei", "Wang Fang"):
        await api.scalar(
            """INSERT INTO ledger_transaction (member_id, entry_type, account, points, effective_on)
               VALUES (:m, 'BONUS_PROMOTION', 'ADJUSTMENT', 2000000000, '2026-06-01') RETURNING id""",
            m=api.demo.members[member],
        )
    # when headquarters asks for the year's totals
    query = 'query { pointsTotals(from: "2026-01-01", to: "2026-12-31") { entryType points } }'
    totals = (await api.data(query, as_="auditor"))["pointsTotals"]
    # then the sum is answered whole
    assert {"entryType": "BONUS_PROMOTION", "points": 4_000_000_000 + 500} in totals, totals


async def test_a_balance_beyond_32_bits_is_answered(api):
    # given Li Wei credited up to three thousand million points (adjustments of ten million at a time add up)
    await api.scalar(
        "UPDATE points_balance SET posted = posted + 3000000000 WHERE member_id = :m RETURNING posted",
        m=api.demo.members["Li Wei"],
    )
    # when he reads his points and his month's statement, then they are answered whole
    answer = await api.data('{ me { points { posted available } pointsStatement(month: "2026-12") { closing } } }',
                            as_="member")  # fmt: skip
    assert answer["me"]["points"] == {"posted": 3_000_001_500, "available": 3_000_001_500}


async def test_a_penalty_never_takes_points_whose_last_day_has_passed(api, today_is):
    # given Li Wei's 1,200 points ending 2026-12-31 and 300 ending 2027-12-31, on 1 January before the expiry run
    await api.token("club_operator")
    today_is(date(2027, 1, 1))
    # when 301 points are taken, then they are refused: 300 are available
    refused = await adjust(api, points=-301, key="p-1", entryType="PENALTY")
    assert [(e["code"], e["message"]) for e in refused["errors"]] == [
        ("INSUFFICIENT_POINTS", "The member has 300 points available; 301 are needed.")
    ]
    # and 300 are taken from the lot still valid alone
    assert (await adjust(api, points=-300, key="p-2", entryType="PENALTY"))["errors"] == []
    assert [(remaining, on) for _, remaining, on in await lots(api)] == [
        (1_200, date(2026, 12, 31)),
        (0, date(2027, 12, 31)),
    ]
    assert await api.violations() == []


async def test_an_entry_beyond_32_bits_is_answered(api):
    # given an entry of three thousand million points for Li Wei (a month of large bills at the top rates)
    await api.scalar(
        """INSERT INTO ledger_transaction (member_id, entry_type, account, points, effective_on)
           VALUES (:m, 'CONSUMPTION', 'ISSUANCE', 3000000000, '2026-06-01') RETURNING id""",
        m=api.demo.members["Li Wei"],
    )
    # when staff read his history, then the entry is answered whole, not as an internal error
    answer = await api.data(HISTORY, {"id": gid("Member", api.demo.members["Li Wei"])}, as_="agent")
    assert {"entryType": "CONSUMPTION", "points": 3_000_000_000, "effectiveOn": "2026-06-01"} in [
        edge["node"] for edge in answer["node"]["pointsHistory"]["edges"]
    ]


# --- the database keeps the journal honest ---------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_transaction SET points = points + 1",
        "DELETE FROM ledger_transaction",
        "UPDATE lot_movement SET amount = 0",
    ],
)
async def test_journal_rows_cannot_be_changed_or_deleted(api, statement):
    await adjust(api, points=-5, key="a draw")  # given a lot movement too
    with pytest.raises(Exception, match="append-only"):
        await api.scalar(statement)


async def test_an_entry_for_no_member_is_refused(api):
    with pytest.raises(Exception, match="no such member"):
        await api.scalar(
            """INSERT INTO ledger_transaction (member_id, entry_type, account, points, effective_on)
               VALUES (0, 'ADJUSTMENT', 'ADJUSTMENT', 5, current_date) RETURNING 1"""
        )


@pytest.mark.parametrize("table", ["member", "bill", "points_lot"])
async def test_rows_the_ledger_refers_to_are_never_deleted(api, table):
    await api.scalar(
        """INSERT INTO bill (account_id, billing_month, amount_billed_fen, amount_paid_fen, due_date)
           SELECT id, '2026-09-01', 100, 100, '2026-09-15' FROM account LIMIT 1 RETURNING 1"""
    )
    with pytest.raises(Exception, match="never deleted"):
        await api.scalar(f"DELETE FROM {table}")


async def test_verify_names_a_broken_reference_and_a_lot_that_does_not_add_up(api):
    # given a lot whose amount no credit explains (written around the ledger's code)
    await api.scalar(
        """INSERT INTO points_lot (member_id, amount, remaining, earned_on, expires_on)
           VALUES (:m, 5, 5, current_date, current_date + 1) RETURNING 1""",
        m=api.demo.members["Li Wei"],
    )
    # then verify reports it
    assert "each lot holds what its credits put in" in [v.invariant for v in await api.violations()]


async def test_the_balance_check_refuses_a_negative_balance(api):
    with pytest.raises(Exception, match="available_nonnegative"):
        await api.scalar(
            "UPDATE points_balance SET posted = -1 WHERE member_id = :m RETURNING 1", m=api.demo.members["Li Wei"]
        )


@pytest.mark.parametrize(
    ("entry_type", "points"),
    [("ADJUSTMENT", 5), ("ADJUSTMENT", -5), ("BONUS_PROMOTION", 5), ("BONUS_ACTIVITY", 5), ("SURVEY", 5),
     ("REFERRAL", 5), ("PENALTY", -5)],
)  # fmt: skip
async def test_each_manual_entry_type_is_recorded_with_its_counter_account(api, entry_type, points):
    answer = await adjust(api, points=points, key=f"{entry_type}{points}", entryType=entry_type)
    assert (answer["transaction"]["entryType"], answer["transaction"]["points"]) == (entry_type, points)
    counter = await api.scalar("SELECT account FROM ledger_transaction ORDER BY id DESC LIMIT 1")
    assert counter == ("ISSUANCE" if points > 0 and entry_type != "ADJUSTMENT" else "ADJUSTMENT")
    assert await api.violations() == []


@pytest.mark.parametrize(
    ("entry_type", "points", "account"),
    [("PARTNER_EXCHANGE_IN", 40, "PARTNER_CLEARING"), ("REDEMPTION", -40, "REDEMPTION")],
)
async def test_entry_types_of_partners_and_redemption_are_recorded_with_their_counter_account(
    api, entry_type, points, account
):
    # given Li Wei's 1,500 points; when the ledger records a movement that redemption or a
    # partner exchange will write
    async with make_sessions(api.engine).begin() as session:
        entry = await ledger.record(
            session, member_id=api.demo.members["Li Wei"], entry_type=EntryType(entry_type), points=points
        )
    # then it moves points against its system account and every invariant still holds
    assert (entry.account, entry.points) == (account, points)
    assert (await api.data(POINTS, as_="member"))["me"]["points"]["posted"] == 1500 + points
    assert await api.violations() == []


async def test_a_function_planted_in_the_public_schema_does_not_widen_a_staff_members_scope(api):
    # given a look-alike of the built-in prefix check, planted where an unpinned search path would find it first
    planted = "public.starts_with(character varying, text)"
    async with api.engine.begin() as connection:
        await connection.execute(sa.text(f"CREATE FUNCTION {planted} RETURNS boolean LANGUAGE sql AS 'SELECT true'"))
    try:
        # when a Beijing operator adjusts a Guangdong member's points
        answer = await api.data(
            ADJUST,
            {"input": {"memberId": gid("Member", api.demo.members["Li Wei"]), "points": 5, "reason": "Goodwill",
                       "idempotencyKey": "planted"}},
            as_="other_branch_operator",
        )  # fmt: skip
        # then the member is still out of their scope, and nothing moved
        assert [e["code"] for e in answer["adjustPoints"]["errors"]] == ["NOT_FOUND"]
        assert await api.scalar("SELECT count(*) FROM ledger_transaction WHERE reason = 'Goodwill'") == 0
    finally:
        async with api.engine.begin() as connection:
            await connection.execute(sa.text(f"DROP FUNCTION {planted}"))
