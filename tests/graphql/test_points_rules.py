"""Points rules as data: create, change, retire, with a recorded history; validity rules set expiry."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from domain.points import accrual
from domain.points.rules import NEVER, expiry_date
from domain.validation import validity_end
from loyalty.database import make_sessions
from tests.api import gid, top_codes

CREATE = """mutation($input: CreatePointsRuleInput!) { createPointsRule(input: $input) {
    errors { field code message } rule { id kind gradeCode value effectiveFrom effectiveTo } } }"""
UPDATE = """mutation($input: UpdatePointsRuleInput!) { updatePointsRule(input: $input) {
    errors { field code message }
    rule { id value effectiveTo changes { action before after changedBy { username } } } } }"""


async def rule_id(api, kind: str, grade: str | None = None) -> str:
    found = await api.scalar(
        "SELECT id FROM points_rule WHERE kind = :k AND grade_code IS NOT DISTINCT FROM :g", k=kind, g=grade
    )
    return gid("PointsRule", found)


async def test_a_rate_change_retires_the_old_rule_and_adds_a_new_one(api):
    old = await rule_id(api, "POINTS_PER_YUAN")
    retired = await api.data(UPDATE, {"input": {"id": old, "effectiveTo": "2026-12-31"}}, as_="hq_admin")
    changes = retired["updatePointsRule"]["rule"]["changes"]
    assert [c["action"] for c in changes] == ["CREATE", "RETIRE"]
    assert changes[1]["before"]["effectiveTo"] is None and changes[1]["after"]["effectiveTo"] == "2026-12-31"
    assert changes[1]["changedBy"] == {"username": "admin"}
    new = {"kind": "POINTS_PER_YUAN", "value": "1.5", "effectiveFrom": "2027-01-01"}
    created = (await api.data(CREATE, {"input": new}, as_="hq_admin"))["createPointsRule"]
    assert created["errors"] == [] and created["rule"]["value"] == "1.5"
    # entries made before keep their points
    assert await api.scalar("SELECT sum(points) FROM ledger_transaction") == 2000


@pytest.mark.parametrize(
    ("rule", "field", "code"),
    [
        ({"kind": "POINTS_PER_YUAN", "value": "2", "effectiveFrom": "2030-01-01"}, "effectiveFrom",
         "RULE_ALREADY_IN_FORCE"),
        ({"kind": "EXPIRY_AFTER_MONTHS", "value": "24", "effectiveFrom": "2030-01-01"}, "effectiveFrom",
         "RULE_ALREADY_IN_FORCE"),  # validity rules of both kinds exclude each other
        ({"kind": "GRADE_MULTIPLIER", "value": "2", "effectiveFrom": "2030-01-01"}, "gradeCode", "INVALID"),
        ({"kind": "ON_TIME_BONUS", "value": "5", "effectiveFrom": "2030-01-01", "gradeCode": "DIAMOND"}, "gradeCode",
         "INVALID"),
        ({"kind": "GRADE_MULTIPLIER", "value": "2", "effectiveFrom": "2030-01-01", "gradeCode": "GOLD"}, "gradeCode",
         "NOT_FOUND"),
        ({"kind": "LATE_PENALTY_PERCENT", "value": "101", "effectiveFrom": "2030-01-01"}, "value", "OUT_OF_RANGE"),
        ({"kind": "POINTS_PER_YUAN", "value": "-1", "effectiveFrom": "2030-01-01"}, "value", "OUT_OF_RANGE"),
        ({"kind": "EXPIRY_AFTER_MONTHS", "value": "0", "effectiveFrom": "2030-01-01"}, "value", "OUT_OF_RANGE"),
        ({"kind": "ON_TIME_BONUS", "value": "2.5", "effectiveFrom": "2030-01-01"}, "value", "INVALID"),
        ({"kind": "POINTS_PER_YUAN", "value": "1", "effectiveFrom": "2030-01-01", "effectiveTo": "2029-01-01"},
         "effectiveTo", "INVALID"),
    ],
)  # fmt: skip
async def test_rule_refusals_write_nothing(api, rule, field, code):
    await api.token("hq_admin")
    before = await api.fingerprint()
    answer = await api.data(CREATE, {"input": rule}, as_="hq_admin")
    assert [(e["field"], e["code"]) for e in answer["createPointsRule"]["errors"]] == [(["input", field], code)]
    assert await api.fingerprint() == before


async def test_an_update_records_before_and_after(api):
    # given a rule that takes effect in the future
    await api.data(UPDATE, {"input": {"id": await rule_id(api, "ON_TIME_BONUS"), "effectiveTo": "2029-12-31"}},
                   as_="hq_admin")  # fmt: skip
    new = {"kind": "ON_TIME_BONUS", "value": "10", "effectiveFrom": "2030-01-01"}
    rule = (await api.data(CREATE, {"input": new}, as_="hq_admin"))["createPointsRule"]["rule"]["id"]
    # when its value changes before it takes effect
    answer = await api.data(UPDATE, {"input": {"id": rule, "value": "20"}}, as_="hq_admin")
    # then the change is recorded with before and after
    change = answer["updatePointsRule"]["rule"]["changes"][-1]
    assert (change["action"], change["before"]["value"], change["after"]["value"]) == ("UPDATE", "10", "20")


TODAY = date(2026, 11, 25)


@pytest.mark.parametrize(
    ("kind", "changes", "field"),
    [
        ("ON_TIME_BONUS", {"value": "20"}, "value"),
        ("ON_TIME_BONUS", {"effectiveFrom": "2026-01-01"}, "effectiveFrom"),
        ("ON_TIME_BONUS", {"effectiveTo": "2026-11-24"}, "effectiveTo"),  # yesterday: it would rewrite today
        ("EXPIRY_YEAR_END_AFTER_YEARS", {"value": "2"}, "value"),
        ("EXPIRY_YEAR_END_AFTER_YEARS", {"effectiveTo": "2020-12-31"}, "effectiveTo"),
    ],
)
async def test_a_rule_in_effect_cannot_rewrite_the_past(api, today_is, kind, changes, field):
    # given a rule in force since 2000, and today 2026-11-25
    await api.token("hq_admin")
    today_is(TODAY)
    before = await api.fingerprint()
    # when its value or dates would change what it said about a day already begun
    answer = await api.data(UPDATE, {"input": {"id": await rule_id(api, kind)} | changes}, as_="hq_admin")
    # then it is refused and nothing is written
    errors = answer["updatePointsRule"]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["input", field], "RULE_IN_EFFECT")]
    assert await api.fingerprint() == before


async def test_a_rule_in_effect_ends_today_at_the_earliest_and_then_stays_as_it_was(api, today_is):
    # given a rule in force since 2000, and today 2026-11-25
    await api.token("hq_admin")
    today_is(TODAY)
    rule = await rule_id(api, "ON_TIME_BONUS")
    # when it is ended today
    ended = await api.data(UPDATE, {"input": {"id": rule, "effectiveTo": "2026-11-25"}}, as_="hq_admin")
    # then it ends, and from tomorrow nothing about it changes any more
    assert ended["updatePointsRule"]["errors"] == []
    today_is(date(2026, 11, 26))
    again = await api.data(UPDATE, {"input": {"id": rule, "effectiveTo": "2027-01-01"}}, as_="hq_admin")
    assert [e["code"] for e in again["updatePointsRule"]["errors"]] == ["RULE_IN_EFFECT"]


@pytest.mark.parametrize(("starts", "codes"), [("2026-11-24", ["RULE_IN_EFFECT"]), ("2026-11-25", ["RULE_IN_EFFECT"]),
                                               ("2026-11-26", [])])  # fmt: skip
async def test_a_new_rule_takes_effect_from_tomorrow_at_the_earliest(api, today_is, starts, codes):
    # given the rate in force ends today
    await api.token("hq_admin")
    today_is(TODAY)
    old = await rule_id(api, "POINTS_PER_YUAN")
    await api.data(UPDATE, {"input": {"id": old, "effectiveTo": "2026-11-25"}}, as_="hq_admin")
    # when a new rate is created from yesterday, today or tomorrow
    new = {"kind": "POINTS_PER_YUAN", "value": "2", "effectiveFrom": starts}
    answer = (await api.data(CREATE, {"input": new}, as_="hq_admin"))["createPointsRule"]
    # then only tomorrow is accepted
    assert [e["code"] for e in answer["errors"]] == codes


async def test_a_rule_not_in_effect_yet_cannot_be_moved_into_the_past(api, today_is):
    await api.token("hq_admin")
    today_is(TODAY)
    await api.data(UPDATE, {"input": {"id": await rule_id(api, "ON_TIME_BONUS"), "effectiveTo": "2029-12-31"}},
                   as_="hq_admin")  # fmt: skip
    new = {"kind": "ON_TIME_BONUS", "value": "10", "effectiveFrom": "2030-01-01"}
    rule = (await api.data(CREATE, {"input": new}, as_="hq_admin"))["createPointsRule"]["rule"]["id"]
    moved = await api.data(UPDATE, {"input": {"id": rule, "effectiveFrom": "2026-11-25"}}, as_="hq_admin")
    assert [e["code"] for e in moved["updatePointsRule"]["errors"]] == ["RULE_IN_EFFECT"]


async def test_a_late_bill_earns_under_the_rule_in_force_in_its_month(api, today_is):
    # given the rate of 1 point a yuan is ended today and superseded by 2 points a yuan from tomorrow
    await api.token("hq_admin")
    today_is(TODAY)
    old = await rule_id(api, "POINTS_PER_YUAN")
    assert (await api.data(UPDATE, {"input": {"id": old, "effectiveTo": "2026-11-25"}}, as_="hq_admin"))[
        "updatePointsRule"]["errors"] == []  # fmt: skip
    new = {"kind": "POINTS_PER_YUAN", "value": "2", "effectiveFrom": "2026-11-26"}
    assert (await api.data(CREATE, {"input": new}, as_="hq_admin"))["createPointsRule"]["errors"] == []
    # when a bill of September arrives late, and September is accrued
    record = """mutation($input: RecordBillInput!) { recordBill(input: $input) { errors { code } } }"""
    bill = {"accountNumber": "80000001", "billingMonth": "2026-09", "amountBilledFen": 10_000,
            "amountPaidFen": 10_000, "dueDate": "2026-10-15", "paidDate": "2026-10-10"}  # fmt: skip
    assert (await api.data(record, {"input": bill}, as_="hq_admin"))["recordBill"]["errors"] == []
    await accrual.accrue_month(make_sessions(api.engine), date(2026, 9, 1))
    # then it earns at September's rate: 100 yuan × 1 × 1.5 (Diamond), not × 2
    consumption = await api.scalar("SELECT points FROM ledger_transaction WHERE entry_type = 'CONSUMPTION'")
    assert consumption == 150
    assert await api.violations() == []


async def test_provincial_administrators_cannot_change_rules(api):
    rule = await rule_id(api, "ON_TIME_BONUS")
    assert top_codes(await api.gql(UPDATE, {"input": {"id": rule, "value": "20"}}, as_="administrator")) == [
        "FORBIDDEN"
    ]


async def test_staff_read_rules_and_members_do_not(api):
    query = "{ pointsRules { kind gradeCode value } }"
    assert len((await api.data(query, as_="auditor"))["pointsRules"]) == 8
    assert top_codes(await api.gql(query, as_="member")) == ["FORBIDDEN"]


async def test_the_database_ends_a_validity_on_the_day_the_service_does(api):
    # given every day of three years (a leap year among them), when the database computes the end of a validity
    # of 1, 11, 12 and 24 months from each, then it is the day the service computes
    async with api.engine.connect() as connection:
        rows = (await connection.execute(sa.text(
            """SELECT d::date, m, validity_end(d::date, m)
               FROM generate_series(DATE '2023-01-01', DATE '2025-12-31', interval '1 day') AS d,
                    unnest(ARRAY[1, 11, 12, 24]) AS m"""))).all()  # fmt: skip
    assert len(rows) == 1096 * 4
    assert [row for row in rows if row[2] != validity_end(row[0], row[1])] == []


@pytest.mark.parametrize(
    ("validity", "earned", "last_day"),
    [
        (("EXPIRY_YEAR_END_AFTER_YEARS", 1), date(2026, 3, 15), date(2027, 12, 31)),
        (("EXPIRY_YEAR_END_AFTER_YEARS", 0), date(2026, 12, 31), date(2026, 12, 31)),
        (("EXPIRY_AFTER_MONTHS", 12), date(2026, 3, 15), date(2027, 3, 14)),
        (("EXPIRY_AFTER_MONTHS", 1), date(2026, 1, 31), date(2026, 2, 28)),  # no 31 February: ends with the month
        (("EXPIRY_AFTER_MONTHS", 1), date(2026, 3, 31), date(2026, 4, 30)),
        (("EXPIRY_AFTER_MONTHS", 1), date(2026, 1, 28), date(2026, 2, 27)),
        (("EXPIRY_AFTER_MONTHS", 12), date(2024, 2, 29), date(2025, 2, 28)),
        (("EXPIRY_AFTER_MONTHS", 24), date(2024, 2, 29), date(2026, 2, 28)),
        (("EXPIRY_AFTER_MONTHS", 48), date(2024, 2, 29), date(2028, 2, 28)),
        (None, date(2026, 3, 15), NEVER),
    ],
)
async def test_validity_rules_give_the_last_usable_day(api, validity, earned, last_day):
    # given only this validity rule (or none), in force since 2000
    await api.scalar("WITH c AS (DELETE FROM points_rule_change RETURNING rule_id) DELETE FROM points_rule RETURNING 1")
    if validity:
        await api.scalar(
            "INSERT INTO points_rule (kind, value, effective_from) VALUES (:kind, :value, '2000-01-01') RETURNING 1",
            kind=validity[0],
            value=validity[1],
        )
    # when the ledger asks when points earned on a day expire, then it is the rule's last usable day
    async with make_sessions(api.engine)() as session:
        assert await expiry_date(session, earned) == last_day
