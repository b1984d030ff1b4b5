"""Monthly bills from the billing system [O3]: one at a time, or a CSV file.

A file is all-or-nothing: when any row is bad, nothing is written and the bad rows are listed
with their line numbers. A bill already imported for the same account and month is replaced,
unless it has earned points already, in which case it is left as it is and counted as skipped.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access import Permission, require_staff
from domain.customers.tables import Account, Customer
from domain.errors import DomainError, ErrorCode, Problem
from domain.organisation.service import in_subtree
from domain.organisation.tables import Branch
from domain.points.errors import PointsErrorCode
from domain.points.tables import Bill
from domain.validation import money_fen_max, parse_month
from domain.work import jobs
from domain.work.commands import Command
from domain.work.unit import UnitOfWork

ACCRUAL_KIND = "MONTHLY_ACCRUAL"  # the job kind of a month's run, whose lock a change of its bills shares
COLUMNS = ("account_number", "billing_month", "amount_billed_fen", "amount_paid_fen", "due_date", "paid_date")
problems_listed_max = 100
billing_month_min = date(2000, 1, 1)  # the club's first rules are in force from then
due_after_month_days_max = 366  # a bill falls due within a year of its month


@dataclass(frozen=True)
class BillRow:
    account_number: str
    billing_month: date
    amount_billed_fen: int
    amount_paid_fen: int
    due_date: date
    paid_date: date | None


def month(value: Any) -> date:
    """'YYYY-MM' (a file, the command line) or a month's first day (the API's `Month`) → the first day."""
    if isinstance(value, date) and value.day == 1:
        return value
    return parse_month(value)


def finished(first_day: date, today: date) -> bool:
    """Whether the month of `first_day` is over by `today`: the only months that bill and earn."""
    return first_day < today.replace(day=1)


def next_month(first_day: date) -> date:
    return (first_day.replace(day=28) + timedelta(days=4)).replace(day=1)


_DIGITS = re.compile(r"[0-9]{1,18}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _date(value: Any) -> date:
    """A day: as the API gives it, or `YYYY-MM-DD` from a file (not the other forms ISO 8601 allows)."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise ValueError("not YYYY-MM-DD")
    return date.fromisoformat(value)


def _fen(value: Any) -> int:
    """An amount in fen: as the API gives it, or ASCII digits from a file (no sign, no `_`, no other script)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        raise ValueError("not digits")
    return int(value)


def parse_row(values: dict[str, Any], today: date) -> tuple[BillRow | None, list[str]]:
    """A validated bill, or the list of what is wrong with it (field: reason).

    A bill is for a finished month (from 2000 on), paid no later than today and no earlier than its
    month began. It may be paid in part (late) or above the amount billed: an overpayment is a credit
    the billing system carries, and the bill earns on what was billed (`accrual`).
    """
    wrong: list[str] = []

    def take(field: str, convert: Any, optional: bool = False) -> Any:
        raw = values.get(field)
        if raw in (None, "") and optional:
            return None
        try:
            return convert(raw.strip() if isinstance(raw, str) else raw)
        except (TypeError, ValueError, AttributeError):
            wrong.append(f"{field}: not valid")
            return None

    account = values.get("account_number")
    if not isinstance(account, str) or not account.strip().isdigit() or not 5 <= len(account.strip()) <= 20:
        wrong.append("account_number: 5 to 20 digits")
    billing_month = take("billing_month", month)
    billed = take("amount_billed_fen", _fen)
    paid = take("amount_paid_fen", _fen)
    due = take("due_date", _date)
    paid_on = take("paid_date", _date, optional=True)
    for name, amount in (("amount_billed_fen", billed), ("amount_paid_fen", paid)):
        if amount is not None and not 0 <= amount <= money_fen_max:
            wrong.append(f"{name}: 0 to {money_fen_max}")
    if billing_month and not (billing_month_min <= billing_month and finished(billing_month, today)):
        wrong.append(f"billing_month: a finished month from {billing_month_min:%Y-%m} on")
    elif billing_month and due and not billing_month <= due <= billing_month + timedelta(due_after_month_days_max):
        wrong.append("due_date: within a year from the start of the billing month")
    if billing_month and paid_on and not billing_month <= paid_on <= today:
        wrong.append("paid_date: from the start of the billing month to today")
    if paid and paid_on is None and "paid_date: not valid" not in wrong:
        wrong.append("paid_date: required when an amount is paid")
    elif paid == 0 and paid_on is not None:
        wrong.append("paid_date: empty when nothing is paid")
    if wrong:
        return None, wrong
    return BillRow(account.strip(), billing_month, billed, paid, due, paid_on), []


@dataclass(frozen=True, kw_only=True)
class RecordBill(Command):
    account_number: str
    billing_month: date  # its first day
    amount_billed_fen: int
    amount_paid_fen: int
    due_date: date
    paid_date: date | None = None


async def record_bill(uow: UnitOfWork, command: RecordBill) -> Bill:
    """One bill entered by staff for an account in their subtree."""
    actor = require_staff(uow.principal, Permission.POINTS_ADJUST)
    row, wrong = parse_row(dataclasses.asdict(command), uow.today)
    if row is None:
        raise DomainError.of([Problem(_code(reason), reason, reason.split(":")[0]) for reason in wrong])
    query = (
        sa.select(Account.id, Account.opened_on)
        .join(Customer, Customer.id == Account.customer_id)
        .join(Branch, Branch.id == Customer.branch_id)
        .where(Account.account_number == row.account_number, in_subtree(Branch.path, actor.branch_path))
    )
    account_id, opened_on = (await uow.session.execute(query)).one_or_none() or (None, None)
    if account_id is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such account in your scope.", "account_number")
    if row.billing_month < opened_on.replace(day=1):
        raise DomainError(ErrorCode.OUT_OF_RANGE, f"The account opened on {opened_on}: it has no bill of an earlier"
                          " month.", "billing_month")  # fmt: skip
    await refuse_during_a_run(uow.session, [row.billing_month])
    single = (
        "SELECT CAST(:account AS bigint) AS account_id, CAST(:month AS date) AS billing_month,"
        " CAST(:billed AS bigint) AS amount_billed_fen, CAST(:paid AS bigint) AS amount_paid_fen,"
        " CAST(:due AS date) AS due_date, CAST(:paid_on AS date) AS paid_date"
    )
    values = {"account": account_id, "month": row.billing_month, "billed": row.amount_billed_fen}
    values |= {"paid": row.amount_paid_fen, "due": row.due_date, "paid_on": row.paid_date}
    if await _upsert(uow.session, single, values) == 0:
        raise DomainError(
            PointsErrorCode.BILL_ALREADY_ACCRUED, "This month's bill has earned points already.", "billing_month"
        )
    return (
        await uow.session.scalars(
            sa.select(Bill).where(Bill.account_id == account_id, Bill.billing_month == row.billing_month)
        )
    ).one()


async def _upsert(session: AsyncSession, source_sql: str, params: dict[str, Any]) -> int:
    """Insert or replace bills from `source_sql`; bills that earned points already stay. Returns rows written."""
    result = await session.execute(
        sa.text(
            f"""INSERT INTO bill (account_id, billing_month, amount_billed_fen, amount_paid_fen, due_date, paid_date)
                SELECT account_id, billing_month, amount_billed_fen, amount_paid_fen, due_date, paid_date
                FROM ({source_sql}) AS source
                ON CONFLICT (account_id, billing_month) DO UPDATE SET
                    amount_billed_fen = EXCLUDED.amount_billed_fen, amount_paid_fen = EXCLUDED.amount_paid_fen,
                    due_date = EXCLUDED.due_date, paid_date = EXCLUDED.paid_date, imported_at = now()
                WHERE NOT EXISTS (SELECT 1 FROM accrual WHERE accrual.bill_id = bill.id)"""
        ),
        params,
    )
    return result.rowcount


@dataclass(frozen=True)
class ImportResult:
    rows: int
    written: int
    skipped_accrued: int
    problems: list[str]  # the first `problems_listed_max`, by line
    problems_total: int = 0


async def refuse_during_a_run(session: AsyncSession, months: list[date], field: str = "billing_month") -> None:
    """What a month's run reads (its bills, who was a member) is not changed while it runs, in one statement; no
    run of the months starts before the caller's transaction ends."""
    if busy := await jobs.runs_under_way(session, ACCRUAL_KIND, [f"{first_day:%Y-%m}" for first_day in months]):
        raise DomainError(PointsErrorCode.ACCRUAL_RUN_UNDER_WAY,
                          f"The run for {busy[0]} is under way: try again when it has ended.", field)  # fmt: skip


def _code(reason: str) -> ErrorCode:
    """A value outside its range is OUT_OF_RANGE; not a value of its type, INVALID; missing, REQUIRED."""
    if reason.endswith(("not valid", "digits", "when nothing is paid")):
        return ErrorCode.INVALID
    return ErrorCode.REQUIRED if ": required" in reason else ErrorCode.OUT_OF_RANGE


class Problems(list):
    """What is wrong with a file, by line: the first `problems_listed_max` kept, every one counted (a file of a
    million bad rows takes no more memory than one of a hundred)."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def add(self, problem: str) -> None:
        self.total += 1
        if len(self) < problems_listed_max:
            self.append(problem)


def _read(path: Path, problems: Problems, today: date) -> Iterator[tuple]:
    """Valid rows as COPY records, streaming; problems (with line numbers) collected on the side. A file that is
    not UTF-8 text or not CSV is one problem; a row of more or fewer fields than the header names is refused,
    not read with the gaps as empty values."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        try:
            names = reader.fieldnames
            if names is None or set(COLUMNS) - set(names) or len(set(names)) != len(names):
                problems.add(f"line 1: the header must name {', '.join(COLUMNS)}, each once")
                return
            for values in reader:
                if None in values or None in values.values():
                    problems.add(f"line {reader.line_num}: not {len(names)} fields, as the header names")
                    continue
                row, wrong = parse_row(values, today)
                if row is None:
                    for reason in wrong:
                        problems.add(f"line {reader.line_num}: {reason}")
                    continue
                yield (reader.line_num, row.account_number, row.billing_month, row.amount_billed_fen,
                       row.amount_paid_fen, row.due_date, row.paid_date)  # fmt: skip
        except UnicodeDecodeError:
            problems.add(f"line {reader.line_num + 1}: the file is not UTF-8 text")
        except csv.Error as error:
            problems.add(f"line {reader.line_num}: not CSV ({error})")


@dataclass(frozen=True, kw_only=True)
class ImportBills(Command):
    path: Path


async def import_bills(uow: UnitOfWork, command: ImportBills) -> ImportResult:
    """Stage the file with COPY (flat memory), check it in SQL, then write it; all or nothing."""
    session, path = uow.session, command.path
    problems = Problems()
    await session.execute(
        sa.text(
            """CREATE TEMPORARY TABLE bill_staging (line int, account_number text, billing_month date,
                   amount_billed_fen bigint, amount_paid_fen bigint, due_date date, paid_date date) ON COMMIT DROP"""
        )
    )
    connection = await (await session.connection()).get_raw_connection()
    await connection.driver_connection.copy_records_to_table(
        "bill_staging", records=_read(path, problems, uow.today), columns=["line", *COLUMNS]
    )
    rows = await session.scalar(sa.text("SELECT count(*) FROM bill_staging"))
    unknown = await session.execute(
        sa.text(
            """SELECT s.line, s.account_number FROM bill_staging s
               WHERE NOT EXISTS (SELECT 1 FROM account a WHERE a.account_number = s.account_number)
               ORDER BY s.line LIMIT :n"""
        ),
        {"n": problems_listed_max},
    )
    for line, number in unknown:
        problems.add(f"line {line}: account_number {number} is unknown")
    early = await session.execute(
        sa.text(
            """SELECT s.line, a.opened_on FROM bill_staging s JOIN account a ON a.account_number = s.account_number
               WHERE s.billing_month < date_trunc('month', a.opened_on) ORDER BY s.line LIMIT :n"""
        ),
        {"n": problems_listed_max},
    )
    for line, opened_on in early:
        problems.add(f"line {line}: billing_month before the account opened ({opened_on})")
    repeated = await session.execute(
        sa.text(
            """SELECT min(line), max(line), account_number FROM bill_staging GROUP BY account_number, billing_month
               HAVING count(*) > 1 ORDER BY 1 LIMIT :n"""
        ),
        {"n": problems_listed_max},
    )
    for first, last, number in repeated:
        problems.add(f"line {last}: repeats line {first} (account {number}, same month)")
    if problems:
        listed = sorted(problems, key=_line)[:problems_listed_max]
        return ImportResult(rows + problems.total, 0, 0, listed, problems.total)
    months = (await session.scalars(sa.text("SELECT DISTINCT billing_month FROM bill_staging ORDER BY 1"))).all()
    await refuse_during_a_run(session, list(months))
    written = await _upsert(
        session,
        """SELECT a.id AS account_id, s.billing_month, s.amount_billed_fen, s.amount_paid_fen, s.due_date, s.paid_date
           FROM bill_staging s JOIN account a ON a.account_number = s.account_number""",
        {},
    )
    return ImportResult(rows, written, rows - written, [])


def _line(problem: str) -> int:
    return int(problem.split(":")[0].removeprefix("line "))
