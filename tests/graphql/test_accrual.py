"""Bills and the monthly run: what a bill earns, penalties, idempotency, resuming, CSV import."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from domain import clock
from domain.errors import DomainError, ErrorCode
from domain.points import accrual, bills, ledger
from domain.points.errors import PointsErrorCode
from domain.points.tables import EntryType
from domain.work import jobs
from domain.work.tables import JobRun, JobStatus
from domain.work.unit import UnitOfWork
from loyalty.database import make_sessions
from tests.api import gid, top_codes

RECORD = """mutation($input: RecordBillInput!) { recordBill(input: $input) {
    errors { field code message } bill { billingMonth amountPaidFen paidDate } } }"""
RUN = """mutation($input: RunMonthlyAccrualInput!) { runMonthlyAccrual(input: $input) {
    errors { field code message } run { id month status billsTotal bills startedBy { username } } } }"""
ADJUST = """mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) { errors { code } } }"""
RUN_STATE = """query($id: ID!) { node(id: $id) { ... on MonthlyAccrual {
    id status bills members points penalties error finishedAt } } }"""
FIGURES = ("bills", "members", "points", "penalties")


async def start(api, month="2026-09", who="hq_admin") -> dict:
    return (await api.data(RUN, {"input": {"month": month}}, as_=who))["runMonthlyAccrual"]


async def followed(api, run_id: str, polls_max: int = 1_000) -> dict:
    """The run's state once it is no longer RUNNING."""
    for _ in range(polls_max):
        run = (await api.data(RUN_STATE, {"id": run_id}, as_="hq_admin"))["node"]
        if run["status"] != "RUNNING":
            return run
        await asyncio.sleep(0.01)
    raise AssertionError(f"run {run_id} still running")


async def run_month(api, month="2026-09") -> dict:
    """Start a month's run through the API and wait for it: its figures."""
    started = await start(api, month)
    assert started["errors"] == [], started
    run = await followed(api, started["run"]["id"])
    assert (run["status"], run["error"]) == ("DONE", None), run
    return {k: run[k] for k in FIGURES}


def bill(account="80000001", paid=12_345, billed=12_345, paid_date="2026-09-10", **changes):
    return {"accountNumber": account, "billingMonth": "2026-09", "amountBilledFen": billed, "amountPaidFen": paid,
            "dueDate": "2026-09-15", "paidDate": paid_date} | changes  # fmt: skip


async def record(api, **kwargs) -> dict:
    return (await api.data(RECORD, {"input": bill(**kwargs)}, as_="hq_admin"))["recordBill"]


async def entries(api, member="Li Wei") -> list[tuple]:
    async with api.engine.connect() as connection:
        rows = await connection.execute(
            sa.text("""SELECT entry_type, points, effective_on FROM ledger_transaction
                       WHERE member_id = :m AND reason LIKE '%%Bill%%' OR member_id = :m AND reason LIKE 'Late%%'
                       ORDER BY id"""),
            {"m": api.demo.members[member]},
        )
        return [tuple(r) for r in rows]


async def test_a_paid_bill_earns_consumption_on_time_and_tenure_points(api):
    # Li Wei: Diamond (x1.5), account opened 2015-01-01: 11 full years by 2026-09-30
    assert (await record(api))["errors"] == []
    run = await run_month(api)
    assert run == {"bills": 1, "members": 1, "points": 185 + 10 + 55, "penalties": 0}
    assert await entries(api) == [
        ("CONSUMPTION", 185, date(2026, 10, 1)),  # 123.45 yuan × 1 × 1.5, rounded down
        ("BONUS_ON_TIME", 10, date(2026, 10, 1)),
        ("BONUS_TENURE", 55, date(2026, 10, 1)),  # 5 a year × 11
    ]


async def test_running_a_month_twice_changes_nothing(api):
    await record(api)
    sessions = make_sessions(api.engine)
    first = await accrual.accrue_month(sessions, date(2026, 9, 1))
    again = await accrual.accrue_month(sessions, date(2026, 9, 1))
    assert (first.bills, first.members, again.bills, again.members, again.points) == (1, 1, 0, 0, 0)
    assert len(await entries(api)) == 3


async def test_a_stopped_run_resumes_where_it_stopped(api, monkeypatch):
    for account, paid in (("80000001", 10_000), ("80000002", 20_000), ("80000003", 30_000)):
        await record(api, account=account, paid=paid, billed=paid)
    sessions = make_sessions(api.engine)
    real = accrual._earn  # each chunk's transaction
    calls = []

    async def failing_on_the_second(session, *args):
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("power cut")
        return await real(session, *args)

    monkeypatch.setattr(accrual, "_earn", failing_on_the_second)
    with pytest.raises(ExceptionGroup):
        await accrual.accrue_month(sessions, date(2026, 9, 1), chunk_bills=1, workers=1)
    monkeypatch.undo()
    resumed = await accrual.accrue_month(sessions, date(2026, 9, 1), chunk_bills=1)
    assert resumed.bills == 2  # the first bill's chunk had committed
    assert await api.scalar("SELECT count(*) FROM accrual") == 3


async def late_bills(api, count: int, customer: str = "Li Wei") -> None:
    """`count` more accounts of the customer, each with a September bill of 10 yuan paid five days late."""
    await api.scalar(
        """WITH a AS (INSERT INTO account (customer_id, account_number, opened_on)
                      SELECT :c, '81' || lpad(g::text, 6, '0'), DATE '2020-01-01' FROM generate_series(1, :n) g
                      RETURNING id)
           INSERT INTO bill (account_id, billing_month, amount_billed_fen, amount_paid_fen, due_date, paid_date)
           SELECT id, DATE '2026-09-01', 1000, 1000, DATE '2026-09-15', DATE '2026-09-20' FROM a
           RETURNING 1""", c=api.demo.customers[customer], n=count)  # fmt: skip


@pytest.mark.parametrize(("chunk_bills", "workers"), [(1, 1), (1, 2), (2, 2), (10_000, 2)])
async def test_late_bills_cost_the_same_however_the_month_is_cut(api, chunk_bills, workers):
    # given Li Wei (1,500 points) with three September bills paid late, each earning 15 + 55 (tenure) points
    await late_bills(api, 3)
    # when September runs in chunks of `chunk_bills` bills on `workers` workers
    run = await accrual.accrue_month(make_sessions(api.engine), date(2026, 9, 1), chunk_bills=chunk_bills,
                                     workers=workers)  # fmt: skip
    # then each late bill costs 5 % of the balance once the month has earned: 1,710 → 85 each, in one entry
    assert (run.bills, run.points, run.penalties) == (3, 3 * 70 - 3 * 85, 3)
    assert await api.scalar("SELECT array_agg(points) FROM ledger_transaction WHERE entry_type = 'PENALTY'") == [-255]
    assert await api.scalar("SELECT array_agg(points ORDER BY bill_id) FROM accrual") == [70 - 85] * 3
    assert await api.scalar("SELECT count(*) FROM accrual WHERE penalty_due") == 0
    assert await api.violations() == []


async def test_a_penalty_is_of_the_balance_as_it_is_when_taken_whatever_moves_meanwhile(api, monkeypatch):
    # given Li Wei (1,500 points) with three September bills paid late, and a clerk taking 1,000 points from him
    # while the run's penalties are being worked out
    await late_bills(api, 3)
    sessions, real = make_sessions(api.engine), accrual._penalise

    async def penalise_while_a_clerk_debits(session, month, members, *args):
        async def clerk():
            async with sessions() as other, other.begin():
                await ledger.record(other, member_id=api.demo.members["Li Wei"], entry_type=EntryType.ADJUSTMENT,
                                    points=-1_000, reason="Taken by a clerk")  # fmt: skip
                await asyncio.sleep(0.5)  # written, not yet committed, while the penalties begin

        taking = asyncio.create_task(clerk())
        await asyncio.sleep(0.2)
        try:
            return await real(session, month, members, *args)
        finally:
            await taking

    monkeypatch.setattr(accrual, "_penalise", penalise_while_a_clerk_debits)
    # when September runs, then it is done, and the penalties waited for the debit: 5 % of the 710 left, three times
    run = await accrual.accrue_month(sessions, date(2026, 9, 1), workers=1)
    assert (run.status, run.penalties) == ("DONE", 3)
    assert await api.scalar("SELECT -sum(points) FROM ledger_transaction WHERE entry_type = 'PENALTY'") == 3 * 35
    assert await api.violations() == []


async def test_a_run_stopped_before_its_penalties_takes_them_once_when_resumed(api, monkeypatch):
    # given Li Wei's and Wang Fang's September bills paid late, and a run whose penalties fail after the first member
    await late_bills(api, 2)
    await record(api, account="80000002", paid_date="2026-09-20")
    sessions = make_sessions(api.engine)
    real, calls = accrual._penalise, []

    async def failing_on_the_second(session, month, members, *args):
        calls.append(members)
        if len(calls) == 2:
            raise RuntimeError("power cut")
        return await real(session, month, members, *args)

    monkeypatch.setattr(accrual, "_penalise", failing_on_the_second)
    with pytest.raises(ExceptionGroup):
        await accrual.accrue_month(sessions, date(2026, 9, 1), chunk_bills=1, workers=1)
    monkeypatch.undo()
    # then every bill has earned, and the second member's penalty waits
    assert await api.scalar("SELECT count(*) FROM accrual") == 3
    assert await api.scalar("SELECT count(DISTINCT member_id) FROM accrual WHERE penalty_due") == 1
    # when the run is resumed, then it earns nothing more and takes the waiting penalty, once
    resumed = await accrual.accrue_month(sessions, date(2026, 9, 1), chunk_bills=1)
    assert (resumed.bills, resumed.members, resumed.penalties) == (0, 1, 1)  # the member it took points from
    assert await api.scalar("SELECT count(*) FROM ledger_transaction WHERE entry_type = 'PENALTY'") == 2
    assert await api.scalar("SELECT count(*) FROM accrual WHERE penalty_due") == 0
    assert (await accrual.accrue_month(sessions, date(2026, 9, 1))).penalties == 0
    assert await api.violations() == []


@pytest.fixture
def paused(monkeypatch) -> asyncio.Event:
    """Chunks wait until the event is set, so that a run stays under way while the test looks."""
    go_on = asyncio.Event()
    real = accrual._earn

    async def waiting(*args):
        await go_on.wait()
        return await real(*args)

    monkeypatch.setattr(accrual, "_earn", waiting)
    return go_on


async def test_a_run_answers_at_once_and_is_followed_to_its_end(api, paused):
    # given Li Wei's September bill
    await record(api)
    # when an administrator starts September, then the answer comes at once with the run under way
    started = await start(api)
    assert started["errors"] == []
    assert {k: started["run"][k] for k in ("month", "status", "billsTotal", "bills")} == {
        "month": "2026-09", "status": "RUNNING", "billsTotal": 1, "bills": 0
    }  # fmt: skip
    assert started["run"]["startedBy"] == {"username": "admin"}
    # and a second start of September is refused while it runs, without writing anything
    again = await start(api)
    assert [(e["field"], e["code"]) for e in again["errors"]] == [(["input", "month"], "ACCRUAL_RUN_UNDER_WAY")]
    assert await api.scalar("SELECT count(*) FROM job_run") == 1
    # but another month may run at the same time
    other = await start(api, "2026-08")
    assert other["errors"] == []
    # when the run goes on, then it ends DONE with its figures
    paused.set()
    run = await followed(api, started["run"]["id"])
    assert (run["status"], run["bills"], run["points"], run["error"]) == ("DONE", 1, 185 + 10 + 55, None)
    assert run["finishedAt"] is not None
    assert (await followed(api, other["run"]["id"]))["status"] == "DONE"  # August's ends on its own time
    listed = (await api.data("{ monthlyAccrualRuns { month status } }", as_="hq_admin"))["monthlyAccrualRuns"]
    assert listed == [{"month": "2026-08", "status": "DONE"}, {"month": "2026-09", "status": "DONE"}]


async def test_a_run_that_fails_is_recorded_and_the_next_run_resumes(api, monkeypatch):
    # given a bill, and a database that fails the first chunk
    await record(api)

    async def failing(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(accrual, "_earn", failing)
    # when a run is started, then it is recorded FAILED and has written no points
    failed = await followed(api, (await start(api))["run"]["id"])
    assert (failed["status"], failed["bills"]) == ("FAILED", 0)
    assert "RuntimeError" in failed["error"]
    assert await api.scalar("SELECT count(*) FROM accrual") == 0
    # when it is started again, then it earns the bill (the month's lock was given back)
    monkeypatch.undo()
    assert (await run_month(api))["bills"] == 1


async def test_a_run_left_running_by_a_stopped_process_reads_interrupted(api):
    # given a run recorded RUNNING whose process is gone (nobody holds September's lock)
    await api.scalar("INSERT INTO job_run (kind, subject, total) VALUES ('MONTHLY_ACCRUAL', '2026-09', 5) RETURNING 1")
    # when an administrator lists the runs, then it reads INTERRUPTED
    listed = await api.data('{ monthlyAccrualRuns(month: "2026-09") { status error } }', as_="hq_admin")
    assert listed["monthlyAccrualRuns"][0]["status"] == "INTERRUPTED"
    # and a new run of the month records it so
    await run_month(api)
    assert await api.scalar("SELECT status FROM job_run ORDER BY id LIMIT 1") == "INTERRUPTED"


async def test_a_run_read_running_just_before_it_ended_reads_as_it_ended(api):
    # given a run read RUNNING, which then ends (its state recorded, its lock given back) before the reader
    # looks for its lock
    await api.scalar(
        "INSERT INTO job_run (kind, subject, total, status, finished_at) VALUES"
        " ('MONTHLY_ACCRUAL', '2026-09', 1, 'DONE', now()) RETURNING 1"
    )
    async with make_sessions(api.engine)() as session:
        run = (await session.scalars(sa.select(JobRun))).one()
        run.status = JobStatus.RUNNING  # what the reader saw a moment before
        # when the reader finds no lock held, then it reads the run again: it ended, it was not left behind
        (stands,) = await jobs.as_they_stand(session, [run])
    assert stands.status == JobStatus.DONE


async def test_a_run_read_as_ended_has_given_its_month_back(api):
    # given a month's run under way, read over and over from another connection
    await record(api)
    started = await start(api)
    run_id = int(await api.scalar("SELECT id FROM job_run WHERE subject = '2026-09'"))
    held = sa.text(
        """SELECT status::text, (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
                                 AND classid = :space AND objid = :key AND objsubid = 2)
           FROM job_run WHERE id = :id"""
    )
    params = {"space": jobs._LOCK_SPACE, "key": jobs._lock_key(accrual.ACCRUAL_KIND, "2026-09"), "id": run_id}
    async with api.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        # when a read finds it ended, then its lock is no longer held: the month's bills may change at once
        for _ in range(100_000):
            status, locks = (await connection.execute(held, params)).one()
            if status != "RUNNING":
                break
    assert (status, locks) == ("DONE", 0)
    assert started["errors"] == []
    assert (await record(api, paid=99_999))["errors"][0]["code"] == "BILL_ALREADY_ACCRUED"


async def test_stopping_the_app_interrupts_its_runs_and_gives_back_the_lock(api, app, paused):
    # given a run under way
    await record(api)
    started = await start(api)
    # when the app stops, then the run is recorded INTERRUPTED and the month may run again
    await app.state.services.jobs.stop()
    run = (await api.data(RUN_STATE, {"id": started["run"]["id"]}, as_="hq_admin"))["node"]
    assert (run["status"], run["bills"]) == ("INTERRUPTED", 0)
    paused.set()
    assert (await run_month(api))["bills"] == 1


@pytest.mark.parametrize("who", ["administrator", "club_operator", "member", "anonymous"])
async def test_only_headquarters_administrators_see_the_runs(api, who):
    await record(api)
    run_id = (await start(api))["run"]["id"]
    await followed(api, run_id)
    answer = await api.gql("{ monthlyAccrualRuns { id } }", as_=who)
    assert top_codes(answer) == ["UNAUTHENTICATED" if who == "anonymous" else "FORBIDDEN"]
    assert (await api.gql(RUN_STATE, {"id": run_id}, as_=who))["data"]["node"] is None


@pytest.mark.parametrize(("month", "code"), [("Sept", "GRAPHQL_VALIDATION_FAILED"), ("9999-12", "OUT_OF_RANGE")])
async def test_listing_runs_of_a_month_that_is_not_one_is_refused(api, month, code):
    answer = await api.gql(f'{{ monthlyAccrualRuns(month: "{month}") {{ id }} }}', as_="hq_admin")
    assert top_codes(answer) == [code]


async def test_a_month_accrued_years_late_earns_points_valid_from_today(api):
    # given a bill of January 2024, paid then, that reached the club only now
    recorded = await record(api, billingMonth="2024-01", dueDate="2024-02-15", paidDate="2024-02-10")
    assert recorded["errors"] == [], recorded
    # when its month is accrued, then its points are earned as of February 2024 but are not born expired:
    # their validity counts from today, so they can be spent (and are warned of) like any others
    run = await accrual.accrue_month(make_sessions(api.engine), date(2024, 1, 1))
    assert run.bills == 1
    lot = await api.scalar("SELECT expires_on FROM points_lot WHERE earned_on = '2024-02-01' AND member_id = :m",
                           m=api.demo.members["Li Wei"])  # fmt: skip
    assert lot >= clock.today()
    assert await api.violations() == []


async def test_a_month_accrued_after_a_year_end_takes_its_penalties_from_points_still_valid(api, today_is):
    # given 5 January, before the day's expiry has run: Li Wei's 1,200 points ended on 31 December, 300 are valid
    await api.token("hq_admin")
    today_is(date(2027, 1, 5))
    # and his November bill paid late, recorded now
    late = await record(api, billingMonth="2026-11", dueDate="2026-12-15", paidDate="2026-12-20")
    assert late["errors"] == [], late
    # when November is accrued, then its penalty never touches the points that have ended
    await accrual.accrue_month(make_sessions(api.engine), date(2026, 11, 1))
    assert await api.scalar("SELECT remaining FROM points_lot WHERE member_id = :m AND expires_on = '2026-12-31'",
                            m=api.demo.members["Li Wei"]) == 1_200  # fmt: skip
    assert [kind for kind, *_ in await entries(api)].count("PENALTY") == 1
    assert await api.violations() == []


async def test_a_late_bill_costs_a_percentage_instead_of_the_on_time_bonus(api):
    await record(api, paid_date="2026-09-20")  # five days late
    run = await run_month(api)
    # balance 1,500 + 185 + 55 = 1,740; 5% of it is 87
    assert run == {"bills": 1, "members": 1, "points": 185 + 55 - 87, "penalties": 1}
    assert (await entries(api))[-1] == ("PENALTY", -87, date(2026, 10, 1))
    # the penalty drew on the lot that expires first, and the ledger still holds together
    assert await api.scalar("SELECT remaining FROM points_lot WHERE expires_on = '2026-12-31'") == 1200 - 87
    async with make_sessions(api.engine)() as session:
        assert await ledger.verify(session) == []


async def test_a_bill_earns_at_the_multiplier_of_the_grade_held_when_its_month_ended(api):
    # given Li Wei, Diamond (x1.5) all September, his September bill, and a change to Sapphire (x1) since
    await record(api)
    change = """mutation($input: ChangeMemberGradeInput!) { changeMemberGrade(input: $input) { errors { code } } }"""
    sapphire = {"memberId": gid("Member", api.demo.members["Li Wei"]), "gradeCode": "SAPPHIRE",
                "reason": "Asked to", "idempotencyKey": "g-1"}  # fmt: skip
    assert (await api.data(change, {"input": sapphire}, as_="hq_admin"))["changeMemberGrade"]["errors"] == []
    # when September is run
    await run_month(api)
    # then the bill earns as a Diamond's: 123.45 yuan x 1.5
    assert (await entries(api))[0] == ("CONSUMPTION", 185, date(2026, 10, 1))


async def test_a_suspended_members_bill_waits_for_a_run_after_the_suspension(api):
    # given Li Wei's September bill, and his membership suspended
    await record(api)
    status = """mutation($input: UpdateMemberInput!) { updateMember(input: $input) { errors { code } } }"""
    li = gid("Member", api.demo.members["Li Wei"])
    assert (await api.data(status, {"input": {"id": li, "status": "SUSPENDED"}}, as_="hq_admin"))["updateMember"][
        "errors"] == []  # fmt: skip
    # when September is run, then the bill is left as it is: he earns nothing, it is not claimed, nor counted
    # among the bills the run has to earn
    started = await start(api)
    assert started["run"]["billsTotal"] == 0
    assert (await followed(api, started["run"]["id"]))["bills"] == 0
    assert await api.scalar("SELECT count(*) FROM accrual") == 0
    # when the suspension is lifted and September is run again, then it earns
    assert (await api.data(status, {"input": {"id": li, "status": "ACTIVE"}}, as_="hq_admin"))["updateMember"][
        "errors"] == []  # fmt: skip
    assert (await run_month(api))["bills"] == 1
    assert (await entries(api))[0] == ("CONSUMPTION", 185, date(2026, 10, 1))


def test_a_penalty_reason_lists_every_bill_that_fits_and_counts_the_rest():
    # given lists of late bills of every length up to 200 and ids of 1 to 19 digits
    for digits in range(1, 20):
        for count in range(1, 200):
            bills = list(range(10 ** (digits - 1), 10 ** (digits - 1) + count))
            reason = accrual._late_bills(bills)
            # then the reason fits, and names every bill when they all fit
            full = "Late or unpaid bills " + ", ".join(map(str, bills))
            assert reason == full if len(full) <= accrual.penalty_reason_length_max else reason.endswith(" more")
            assert len(reason) <= accrual.penalty_reason_length_max


async def test_a_member_with_many_late_bills_is_penalised_with_a_reason_that_fits(api):
    # given Li Wei's customer with 150 more accounts, each with a September bill paid five days late
    await late_bills(api, 150)
    # when September is run
    run = await run_month(api)
    # then the run is done, and the penalty's reason names the first bills and counts the rest
    assert run["bills"] == 150 and run["penalties"] > 0
    reason = await api.scalar("SELECT reason FROM ledger_transaction WHERE entry_type = 'PENALTY'")
    assert reason.startswith("Late or unpaid bills ") and reason.endswith(" more")
    assert len(reason) <= accrual.penalty_reason_length_max
    async with make_sessions(api.engine)() as session:
        assert await ledger.verify(session) == []


async def test_a_bill_not_yet_due_waits_for_its_payment_or_its_due_date(api, today_is):
    # given today 2026-11-25 and October's bill of Li Wei, unpaid, due on 2026-12-10
    await api.token("hq_admin")
    today_is(date(2026, 11, 25))
    october = {"billingMonth": "2026-10", "dueDate": "2026-12-10", "paid_date": None, "paid": 0}
    assert (await record(api, **october))["errors"] == []
    # when October is run
    first = await accrual.accrue_month(make_sessions(api.engine), date(2026, 10, 1))
    # then the bill is left for later: no penalty, nothing claimed
    assert (first.bills, first.points, first.penalties) == (0, 0, 0)
    assert await entries(api) == []
    # and once it is paid on time and recorded again, the next run earns it with the on-time bonus
    assert (await record(api, **october | {"paid_date": "2026-11-25", "paid": 12_345}))["errors"] == []
    again = await accrual.accrue_month(make_sessions(api.engine), date(2026, 10, 1))
    assert again.bills == 1
    assert [e[0] for e in await entries(api)] == ["CONSUMPTION", "BONUS_ON_TIME", "BONUS_TENURE"]
    assert await api.violations() == []


async def test_a_bill_of_a_month_under_its_run_is_neither_written_nor_replaced(api, tmp_path):
    # given September's run under way (its lock held, as the job runner holds it)
    from domain.work import jobs

    await api.token("hq_admin")
    before = await api.fingerprint()
    async with api.engine.connect() as holder:
        key = jobs._lock_key(accrual.MonthlyAccrualJob.kind, "2026-09")
        await holder.execute(sa.text("SELECT pg_advisory_lock(:s, :k)"), {"s": jobs._LOCK_SPACE, "k": key})
        # when a bill of September is recorded, or imported
        answer = await record(api)
        imported = HEADER + "80000001,2026-09,5000,5000,2026-09-15,2026-09-01\n"
        with pytest.raises(DomainError) as refused:
            await import_text(api, tmp_path, imported)
        await holder.execute(sa.text("SELECT pg_advisory_unlock(:s, :k)"), {"s": jobs._LOCK_SPACE, "k": key})
        await holder.commit()
    # then both are refused while the run reads the month's bills, and nothing is written
    assert [(e["field"], e["code"]) for e in answer["errors"]] == [(["input", "billingMonth"], "ACCRUAL_RUN_UNDER_WAY")]
    assert refused.value.code == PointsErrorCode.ACCRUAL_RUN_UNDER_WAY
    assert await api.fingerprint() == before
    # and once the run has ended, the bill is recorded
    assert (await record(api))["errors"] == []


async def test_a_bill_still_unpaid_after_its_due_date_is_penalised_then(api, today_is):
    await api.token("hq_admin")
    today_is(date(2026, 11, 25))
    assert (await record(api, billingMonth="2026-10", dueDate="2026-11-24", paid_date=None, paid=0))["errors"] == []
    run = await accrual.accrue_month(make_sessions(api.engine), date(2026, 10, 1))
    assert (run.bills, run.penalties) == (1, 1)


async def test_a_bill_of_nothing_needs_no_payment_and_costs_no_penalty(api):
    assert (await record(api, billed=0, paid=0, paid_date=None))["errors"] == []
    run = await run_month(api)
    assert (run["bills"], run["penalties"]) == (1, 0)
    assert [e[0] for e in await entries(api)] == ["BONUS_ON_TIME", "BONUS_TENURE"]


async def test_an_unpaid_bill_earns_only_tenure_and_a_penalty(api):
    await record(api, paid=0, paid_date=None)
    await record(api, account="80000002", paid=0, paid_date=None)  # Wang Fang: 500 points, tenure 11 years
    run = await run_month(api)
    assert run["points"] == (55 - (1555 * 5 // 100)) + (55 - (555 * 5 // 100))
    assert run["penalties"] == 2
    async with make_sessions(api.engine)() as session:
        assert await ledger.verify(session) == []


async def test_the_rules_in_force_for_the_month_apply(api):
    await api.scalar("UPDATE points_rule SET value = 2 WHERE kind = 'POINTS_PER_YUAN' RETURNING 1")
    await record(api, paid=10_000, billed=10_000)
    run = await run_month(api)
    assert run["points"] == 300 + 10 + 55  # 100 yuan × 2 × 1.5


async def test_a_bill_that_earned_cannot_be_replaced(api):
    await record(api)
    await run_month(api)
    replaced = await record(api, paid=99_999)
    assert [(e["field"], e["code"]) for e in replaced["errors"]] == [
        (["input", "billingMonth"], "BILL_ALREADY_ACCRUED")
    ]


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"account": "80000099"}, "accountNumber", "NOT_FOUND"),
        ({"paid": -1}, "amountPaidFen", "OUT_OF_RANGE"),
        ({"dueDate": "2026-08-01"}, "dueDate", "OUT_OF_RANGE"),
        (
            {"billingMonth": "2026-11", "dueDate": "2026-11-15", "paid_date": None, "paid": 0},
            "billingMonth",
            "OUT_OF_RANGE",
        ),
        (
            {"billingMonth": "2027-03", "dueDate": "2027-03-15", "paid_date": None, "paid": 0},
            "billingMonth",
            "OUT_OF_RANGE",
        ),
        (
            {"billingMonth": "1999-12", "dueDate": "1999-12-15", "paid_date": None, "paid": 0},
            "billingMonth",
            "OUT_OF_RANGE",
        ),
        ({"paid_date": None}, "paidDate", "REQUIRED"),  # an amount paid, and no day it was paid
        ({"paid": 0}, "paidDate", "INVALID"),  # nothing paid, and a day it was paid
        ({"paid_date": "2026-11-26"}, "paidDate", "OUT_OF_RANGE"),
        ({"paid_date": "2030-01-01"}, "paidDate", "OUT_OF_RANGE"),
        ({"paid_date": "2026-08-31"}, "paidDate", "OUT_OF_RANGE"),
    ],
)
async def test_record_bill_refusals(api, today_is, changes, field, code):
    # given today is 2026-11-25: October is the latest finished month
    await api.token("hq_admin")  # logged in at the real time, the token stays valid
    today_is(date(2026, 11, 25))
    before = await api.fingerprint()
    # when a bill outside what can have happened is recorded
    answer = await record(api, **changes)
    # then it is refused, naming the field as the client sent it, and nothing is written
    assert [(e["field"], e["code"]) for e in answer["errors"]] == [(["input", field], code)]
    assert all("_" not in e["message"] for e in answer["errors"]), answer["errors"]
    assert await api.fingerprint() == before


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"billingMonth": "2026-13"}, "BAD_USER_INPUT"),
        ({"billingMonth": "9999-12"}, "OUT_OF_RANGE"),
        ({"dueDate": "9999-12-31"}, "OUT_OF_RANGE"),
        ({"paid_date": "0001-01-01"}, "OUT_OF_RANGE"),
    ],
)
async def test_bill_values_no_month_or_date_can_take_are_refused_at_the_edge(api, changes, code):
    await api.token("hq_admin")
    before = await api.fingerprint()
    answer = await api.gql(RECORD, {"input": bill(**changes)}, as_="hq_admin")
    assert top_codes(answer) == [code] and answer["data"] is None
    assert await api.fingerprint() == before


async def test_a_bill_of_last_month_paid_today_is_recorded(api, today_is):
    # given today is the first day of a month
    await api.token("hq_admin")
    today_is(date(2026, 11, 1))
    # when last month's bill, paid today, is recorded
    answer = await record(api, billingMonth="2026-10", dueDate="2026-11-15", paid_date="2026-11-01")
    # then it is accepted
    assert answer["errors"] == []
    assert answer["bill"]["billingMonth"] == "2026-10"


async def test_an_overpaid_bill_earns_on_what_was_billed(api):
    # given a bill of 123.45 yuan paid as 500 yuan on time
    assert (await record(api, paid=50_000))["errors"] == []
    # when the month is run
    await run_month(api)
    # then consumption points are those of the amount billed, and the bill counts as paid in full
    assert await entries(api) == [
        ("CONSUMPTION", 185, date(2026, 10, 1)),
        ("BONUS_ON_TIME", 10, date(2026, 10, 1)),
        ("BONUS_TENURE", 55, date(2026, 10, 1)),
    ]
    assert await api.violations() == []


@pytest.mark.parametrize(
    ("who", "month", "code"),
    [
        ("administrator", "2026-09", "FORBIDDEN"),
        ("hq_admin", "2099-01", "MONTH_NOT_FINISHED"),
        ("hq_admin", "2026-11", "MONTH_NOT_FINISHED"),
        ("hq_admin", "Sept", "BAD_USER_INPUT"),
        ("hq_admin", "9999-12", "OUT_OF_RANGE"),
        ("hq_admin", "1999-12", "OUT_OF_RANGE"),
    ],
)
async def test_monthly_run_refusals(api, today_is, who, month, code):
    await api.token(who)
    today_is(date(2026, 11, 30))  # the month's last day: it is not finished yet
    answer = await api.gql(RUN, {"input": {"month": month}}, as_=who)
    codes = top_codes(answer) or [e["code"] for e in answer["data"]["runMonthlyAccrual"]["errors"]]
    assert codes == [code]
    if code == "FORBIDDEN":  # the message names what was refused
        assert answer["errors"][0]["message"] == "Monthly runs are started at headquarters."


async def an_account_of_the_prospect(api, opened_on: str = "2020-01-01") -> None:
    """Account 80000088 of Pearl River Trading Co., a customer who is no member."""
    prospect = api.demo.customers["Pearl River Trading Co."]
    await api.scalar("INSERT INTO account (customer_id, account_number, opened_on) VALUES (:c, '80000088', :o)"
                     " RETURNING 1", c=prospect, o=date.fromisoformat(opened_on))  # fmt: skip


async def test_a_bill_of_a_month_before_its_account_opened_is_refused(api):
    # given an account opened in November 2026
    await an_account_of_the_prospect(api, "2026-11-20")
    before = await api.fingerprint()
    # when a bill of September is recorded for it, then it is refused, and nothing is written
    answer = await record(api, account="80000088")
    assert [(e["field"], e["code"]) for e in answer["errors"]] == [(["input", "billingMonth"], "OUT_OF_RANGE")]
    assert await api.fingerprint() == before


async def test_a_member_who_joins_on_a_past_day_earns_on_the_bills_a_run_passed_over(api):
    # given September's bill of a customer who was no member when September ran
    await an_account_of_the_prospect(api)
    assert (await record(api, account="80000088"))["errors"] == []
    await run_month(api)
    assert await api.scalar("SELECT count(*) FROM accrual WHERE member_id IS NULL") == 1  # passed over
    # when the customer joins as of June, and September runs again
    joined = {"input": {"customerId": gid("Customer", api.demo.customers["Pearl River Trading Co."]),
                        "clubId": gid("Club", api.demo.clubs["GD-CLUB"]), "gradeCode": "EMERALD",
                        "joinedOn": "2026-06-01"}}  # fmt: skip
    answer = await api.data("mutation($input: CreateMemberInput!) { createMember(input: $input) { errors { code }"
                            " member { id } } }", joined, as_="hq_admin")  # fmt: skip
    assert answer["createMember"]["errors"] == []
    again = await accrual.accrue_month(make_sessions(api.engine), date(2026, 9, 1))
    # then the bill earns for the new member
    assert (again.bills, again.points > 0) == (1, True)
    assert await api.scalar("SELECT count(*) FROM accrual WHERE member_id IS NULL") == 0


async def test_a_member_joining_on_a_past_day_waits_for_no_run_of_those_months(api):
    # given September's run under way (its lock held)
    await api.token("hq_admin")
    before = await api.fingerprint()
    joined = {"input": {"customerId": gid("Customer", api.demo.customers["Pearl River Trading Co."]),
                        "clubId": gid("Club", api.demo.clubs["GD-CLUB"]), "gradeCode": "EMERALD",
                        "joinedOn": "2026-06-01"}}  # fmt: skip
    create = "mutation($input: CreateMemberInput!) { createMember(input: $input) { errors { field code } } }"
    async with api.engine.connect() as holder:
        key = jobs._lock_key(accrual.MonthlyAccrualJob.kind, "2026-09")
        await holder.execute(sa.text("SELECT pg_advisory_lock(:s, :k)"), {"s": jobs._LOCK_SPACE, "k": key})
        # when a customer joins as of June meanwhile, then it is refused: the run may be passing its bills over
        answer = (await api.data(create, joined, as_="hq_admin"))["createMember"]
        await holder.execute(sa.text("SELECT pg_advisory_unlock(:s, :k)"), {"s": jobs._LOCK_SPACE, "k": key})
        await holder.commit()
    assert answer["errors"] == [{"field": ["input", "joinedOn"], "code": "ACCRUAL_RUN_UNDER_WAY"}]
    assert await api.fingerprint() == before
    # and once it has ended, the customer joins
    assert (await api.data(create, joined, as_="hq_admin"))["createMember"]["errors"] == []


# --- CSV import ----------------------------------------------------------------------------------

HEADER = "account_number,billing_month,amount_billed_fen,amount_paid_fen,due_date,paid_date\n"


async def import_text(api, tmp_path: Path, text: str) -> bills.ImportResult:
    path = tmp_path / "bills.csv"
    path.write_text(text)
    async with UnitOfWork(make_sessions(api.engine)) as uow:
        return await uow.run(bills.import_bills, bills.ImportBills(path=path))


async def test_a_good_file_is_imported_and_reimporting_replaces_unearned_bills(api, tmp_path):
    text = HEADER + "80000001,2026-09,5000,5000,2026-09-15,2026-09-01\n80000002,2026-09,7000,0,2026-09-15,\n"
    assert await import_text(api, tmp_path, text) == bills.ImportResult(2, 2, 0, [])
    paid = text.replace(",0,2026-09-15,\n", ",7000,2026-09-15,2026-09-10\n")
    assert await import_text(api, tmp_path, paid) == bills.ImportResult(2, 2, 0, [])
    assert await api.scalar("SELECT sum(amount_paid_fen) FROM bill") == 12_000
    await accrual.accrue_month(make_sessions(api.engine), date(2026, 9, 1))
    assert await import_text(api, tmp_path, text) == bills.ImportResult(2, 0, 2, [])


async def test_a_file_with_any_bad_row_writes_nothing_and_names_the_lines(api, tmp_path):
    text = HEADER + "\n".join(
        [
            "80000001,2026-09,5000,5000,2026-09-15,2026-09-01",
            "80000002,2026-9,7000,0,2026-09-15,",
            "80000099,2026-09,1,1,2026-09-15,2026-09-10",
            "80000001,2026-09,5000,5000,2026-09-15,2026-09-01",
            "80000003,2026-09,-5,x,2026-09-15,",
            "80000088,2026-09,5000,5000,2026-09-15,2026-09-01",
        ]
    )
    await an_account_of_the_prospect(api, "2026-10-01")
    result = await import_text(api, tmp_path, text + "\n")
    assert result.written == 0
    assert result.problems == [
        "line 3: billing_month: not valid",
        "line 4: account_number 80000099 is unknown",
        "line 5: repeats line 2 (account 80000001, same month)",
        "line 6: amount_billed_fen: not valid",
        "line 6: amount_paid_fen: not valid",
        "line 7: billing_month before the account opened (2026-10-01)",
    ]
    assert await api.scalar("SELECT count(*) FROM bill") == 0


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("80000001,2026-09,5000,5000,2026-09-15", "line 2: not 6 fields, as the header names"),
        ("80000001,2026-09,5000,5000,2026-09-15,2026-09-01,x", "line 2: not 6 fields, as the header names"),
        ("80000001,2026-09,5000,5000,2026-09-15,", "line 2: paid_date: required when an amount is paid"),
        ("80000001,2026-09,5000,0,2026-09-15,2026-09-01", "line 2: paid_date: empty when nothing is paid"),
        ("80000001,2026-09,5_000,5000,2026-09-15,2026-09-01", "line 2: amount_billed_fen: not valid"),
        ("80000001,2026-09,\u0661\u0660\u0660,5000,2026-09-15,2026-09-01", "line 2: amount_billed_fen: not valid"),
        ("80000001,2026-09,5000,5000,20260915,2026-09-01", "line 2: due_date: not valid"),
        ("80000001,2026-09,5000,5000,2026-09-15,2026-W36-1", "line 2: paid_date: not valid"),
    ],
)
async def test_a_row_is_read_as_written_or_refused(api, tmp_path, row, problem):
    # given a row of missing or extra fields, a payment without its day, or a number or day in another form
    result = await import_text(api, tmp_path, HEADER + row + "\n")
    # then the file is refused, the row named, and nothing written
    assert (result.written, result.problems) == (0, [problem])
    assert await api.scalar("SELECT count(*) FROM bill") == 0


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (HEADER.replace("paid_date", "due_date").encode(), "line 1: the header must name"),
        ((HEADER + "80000001,2026-09,5000,5000,2026-09-15,2026-09-01\n").encode("utf-16"), "not UTF-8 text"),
        (HEADER.encode() + b"80000001,2026-09,5000,\xff\xfe,2026-09-15,2026-09-01\n", "the file is not UTF-8 text"),
        (HEADER.encode() + b'80000001,"' + b"x" * 200_000 + b'"\n', "not CSV"),
    ],
)
async def test_a_file_that_is_not_a_bills_csv_is_one_problem(api, tmp_path, content, problem):
    path = tmp_path / "bills.csv"
    path.write_bytes(content)
    async with UnitOfWork(make_sessions(api.engine)) as uow:
        result = await uow.run(bills.import_bills, bills.ImportBills(path=path))
    assert result.written == 0 and len(result.problems) == 1 and problem in result.problems[0]


async def test_a_file_of_many_bad_rows_lists_the_first_and_counts_them_all(api, tmp_path):
    text = HEADER + "80000001,2026-09,x,5000,2026-09-15,2026-09-01\n" * 1_000
    result = await import_text(api, tmp_path, text)
    assert (len(result.problems), result.problems_total) == (bills.problems_listed_max, 1_000)


async def test_a_file_names_each_bill_that_cannot_have_happened_with_its_reason(api, tmp_path, today_is):
    # given today is 2026-11-25
    today_is(date(2026, 11, 25))
    text = HEADER + "\n".join(
        [
            "80000001,2026-10,5000,5000,2026-11-15,2026-11-25",
            "80000002,2026-11,7000,0,2026-11-15,",
            "80000003,2026-10,7000,7000,2026-11-15,2026-11-26",
            "80000003,9999-12,7000,0,9999-12-15,",
        ]
    )
    # when it is imported
    result = await import_text(api, tmp_path, text + "\n")
    # then nothing is written and each impossible row is named with its reason
    assert result.written == 0
    assert result.problems == [
        "line 3: billing_month: a finished month from 2000-01 on",
        "line 4: paid_date: from the start of the billing month to today",
        "line 5: billing_month: a finished month from 2000-01 on",
    ]
    assert await api.scalar("SELECT count(*) FROM bill") == 0


def test_a_run_is_only_ever_of_a_finished_month(today_is):
    # given today is the last day of November
    today_is(date(2026, 11, 30))
    # when a job is made for November or a later month, by any path (the API, the command line, a test)
    for month in (date(2026, 11, 1), date(2027, 3, 1)):
        with pytest.raises(DomainError) as refused:
            accrual.MonthlyAccrualJob(month)
        # then it is refused
        assert refused.value.code == PointsErrorCode.MONTH_NOT_FINISHED
    # and October is accepted, from the first day of November on
    assert accrual.MonthlyAccrualJob(date(2026, 10, 1)).subject == "2026-10"
    today_is(date(2026, 11, 1))
    assert accrual.MonthlyAccrualJob(date(2026, 10, 1)).subject == "2026-10"
    today_is(date(2026, 10, 31))
    with pytest.raises(DomainError):
        accrual.MonthlyAccrualJob(date(2026, 10, 1))


def test_a_run_is_never_of_a_month_before_bills_are_kept():
    # when a job is made for a month before the first month a bill may be of, by any path
    for month in (date(1999, 12, 1), date(1900, 1, 1)):
        with pytest.raises(DomainError) as refused:
            accrual.MonthlyAccrualJob(month)
        # then it is refused as out of range, naming the first month
        [problem] = refused.value.problems
        assert (problem.code, problem.field) == (ErrorCode.OUT_OF_RANGE, "month")
        assert "2000-01" in problem.message
    # and the first such month is accepted
    assert accrual.MonthlyAccrualJob(date(2000, 1, 1)).subject == "2000-01"


async def test_a_file_without_the_header_is_refused(api, tmp_path):
    result = await import_text(api, tmp_path, "80000001,2026-09,1,1,2026-09-15,\n")
    assert result.problems == [f"line 1: the header must name {', '.join(bills.COLUMNS)}, each once"]


async def test_two_bills_of_one_member_in_one_chunk_keep_the_ledger_whole(api):
    # given Li Wei's second account, opened this year, and a bill on each
    create = """mutation($input: CreateAccountInput!) { createAccount(input: $input) { errors { code } } }"""
    customer = (await api.data("{ me { customer { id } } }", as_="member"))["me"]["customer"]["id"]
    await api.data(create, {"input": {"customerId": customer, "accountNumber": "80000011", "openedOn": "2026-01-01"}},
                   as_="hq_admin")  # fmt: skip
    await record(api)
    await record(api, account="80000011", paid=20_000, billed=20_000)
    # when the month runs
    run = await accrual.accrue_month(make_sessions(api.engine), date(2026, 9, 1))
    # then both bills earned (the tenure of a customer counts from the first account) and the ledger holds
    assert (run.bills, run.members, run.points) == (2, 1, (185 + 10 + 55) + (300 + 10 + 55))
    async with make_sessions(api.engine)() as session:
        assert await ledger.verify(session) == []


async def test_a_monthly_run_and_adjustments_of_the_same_members_at_once_keep_the_ledger_whole(api):
    # given September's bills of three members (two paid late, so penalties draw on lots too)
    await record(api)
    await record(api, account="80000002", paid_date="2026-09-20")
    await record(api, account="80000003", paid=0, paid_date=None)
    await api.token("club_operator")
    li, wang = (gid("Member", api.demo.members[name]) for name in ("Li Wei", "Wang Fang"))

    async def adjust(member: str, points: int, key: str) -> dict:
        variables = {"input": {"memberId": member, "points": points, "reason": "Goodwill", "idempotencyKey": key}}
        return (await api.data(ADJUST, variables, as_="club_operator"))["adjustPoints"]

    # when the month runs one bill per chunk on two workers while clerks credit and debit them
    run, *answers = await asyncio.gather(
        accrual.accrue_month(make_sessions(api.engine), date(2026, 9, 1), chunk_bills=1, workers=2),
        *(adjust(li if i % 2 else wang, 7 if i % 3 else -9, f"k{i}") for i in range(12)),
    )
    # then every movement landed once and each balance is the sum of its entries
    assert run.bills == 3 and all(a["errors"] == [] for a in answers)
    async with make_sessions(api.engine)() as session:
        assert await ledger.verify(session) == []
    assert await api.scalar("SELECT count(*) FROM points_balance WHERE posted - held < 0") == 0


async def test_a_new_run_waits_for_the_chunks_of_a_run_whose_process_died(api):
    # given September's bill, and a chunk of an earlier run still working in the database, its process gone
    # (its transaction holds the share of the month's work lock every chunk takes)
    from domain.work import jobs

    assert (await record(api))["errors"] == []
    key = jobs._lock_key(accrual.MonthlyAccrualJob.kind, "2026-09")
    async with api.engine.connect() as orphan:
        await orphan.execute(sa.text("SELECT pg_advisory_xact_lock_shared(:s, :k)"), {"s": jobs._WORK_SPACE, "k": key})
        # when a new run of the month starts
        run = asyncio.create_task(accrual.accrue_month(make_sessions(api.engine), date(2026, 9, 1)))
        waited = await wait_for_lock_wait(api)
        # then it waits, earning nothing beside the orphaned work
        assert waited and not run.done()
        assert await entries(api) == []
        await orphan.rollback()
    # and once that work has ended, it carries the month out
    assert (await run).bills == 1


async def wait_for_lock_wait(api, polls_max: int = 500) -> bool:
    """Whether some backend comes to wait on an advisory lock (polled, at most five seconds)."""
    for _ in range(polls_max):
        waiting = await api.scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        if waiting:
            return True
        await asyncio.sleep(0.01)
    return False
