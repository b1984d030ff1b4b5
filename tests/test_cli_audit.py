"""`loyalty export-audit`: the audit trail of a period, as CSV, from the command line."""

from __future__ import annotations

import asyncio
import csv
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from domain.audit.queries import EXPORTED, export_rows_per_batch
from tests.test_cli import demo_database, invoke


def at(month: int, day: int, hour: int, minute: int, second: int) -> datetime:
    """A moment of 2026 at the club (Beijing time): the days of an export are the club's."""
    return datetime(2026, month, day, hour, minute, second, tzinfo=ZoneInfo("Asia/Shanghai"))


EVENTS = [  # when (at the club), the branch acted for, the operation, its targets, the outcome
    (at(11, 30, 23, 59, 59), "GD", "adjustPoints", ["Member:1"], "OK"),  # the day before the period
    (at(12, 1, 0, 0, 0), "GD", "reportCardLost", ["Card:6211000000000001"], "REPLAYED"),
    (at(12, 2, 12, 0, 0), "SZ", "adjustPoints", ["Member:2", "Member:3"], "INSUFFICIENT_POINTS"),
    (at(12, 2, 23, 0, 0), "BJ", "createClub", ["Branch:4"], "OK"),
    (at(12, 3, 0, 0, 0), "BJ", "createClub", [], "FORBIDDEN"),  # the day after
]


def _record(url: str, events: list[tuple], bulk: int = 0) -> None:
    async def record() -> None:
        from loyalty.database import make_engine

        engine = make_engine(url, pool_size=1)
        async with engine.begin() as connection:
            for occurred_at, branch, operation, targets, outcome in events:
                await connection.execute(
                    sa.text("""INSERT INTO audit_event (occurred_at, request_id, principal_kind, principal_id,
                                   branch_path, client_address, operation, targets, outcome)
                               SELECT :at, 'req-' || :operation, 'STAFF', 1, path, '10.0.0.7',
                                      :operation, :targets, :outcome FROM branch WHERE code = :branch"""),
                    {"at": occurred_at, "branch": branch, "operation": operation, "targets": targets,
                     "outcome": outcome},
                )  # fmt: skip
            if bulk:
                await connection.execute(
                    sa.text("""INSERT INTO audit_event (occurred_at, principal_kind, principal_id, branch_path,
                                   operation, targets, outcome)
                               SELECT '2026-12-02 06:00:00+00', 'MEMBER', g, '/1/', 'redeemPoints', '{}', 'OK'
                               FROM generate_series(1, :bulk) g"""),
                    {"bulk": bulk},
                )
        await engine.dispose()

    asyncio.run(record())


def _rows(path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def test_the_audit_trail_of_a_period_is_exported_as_csv(server_url, tmp_path):
    # given events around the first two days of December
    url, database_url = demo_database(server_url, "loyalty_cli_audit_test")
    _record(url, EVENTS)
    # when the two days are exported
    out = tmp_path / "audit.csv"
    done = invoke(database_url, "export-audit", "--from", "2026-12-01", "--to", "2026-12-02", str(out))
    # then the file holds exactly their events, oldest first, every column with its header
    assert done.exit_code == 0, done.output
    assert "Wrote 3 audit events" in done.output
    rows = _rows(out)
    assert list(rows[0]) == list(EXPORTED)
    assert [(r["operation"], r["outcome"], r["targets"]) for r in rows] == [
        ("reportCardLost", "REPLAYED", "Card:6211000000000001"),
        ("adjustPoints", "INSUFFICIENT_POINTS", "Member:2 Member:3"),
        ("createClub", "OK", "Branch:4"),
    ]
    assert rows[0]["occurred_at"] == "2026-11-30T16:00:00+00:00"  # midnight at the club, written in UTC
    assert (rows[0]["principal_kind"], rows[0]["principal_id"], rows[0]["client_address"]) == ("STAFF", "1", "10.0.0.7")
    assert rows[0]["request_id"] == "req-reportCardLost" and rows[0]["result_id"] == ""

    # when only Guangdong's subtree is exported, then Shenzhen's event is in it and Beijing's is not
    mine = tmp_path / "gd.csv"
    assert invoke(database_url, "export-audit", "--from", "2026-12-01", "--to", "2026-12-02", "--branch", "GD",
                  str(mine)).exit_code == 0  # fmt: skip
    assert [r["operation"] for r in _rows(mine)] == ["reportCardLost", "adjustPoints"]


def test_an_export_larger_than_a_batch_is_complete(server_url, tmp_path):
    # given more events in the period than the export reads at a time
    url, database_url = demo_database(server_url, "loyalty_cli_audit_bulk_test")
    _record(url, EVENTS, bulk=2 * export_rows_per_batch + 7)
    # when the period is exported
    out = tmp_path / "audit.csv"
    done = invoke(database_url, "export-audit", "--from", "2026-12-02", "--to", "2026-12-02", str(out))
    # then every one of them is written, in order
    assert done.exit_code == 0, done.output
    ids = [int(r["id"]) for r in _rows(out)]
    assert len(ids) == 2 * export_rows_per_batch + 7 + 2
    assert ids == sorted(ids)


def test_a_bad_export_request_is_refused_in_one_line_and_writes_no_file(server_url, tmp_path):
    # given a database with the demo data
    url, database_url = demo_database(server_url, "loyalty_cli_audit_refusals_test")
    out = tmp_path / "audit.csv"
    # when the dates are not dates, then it is a usage error
    assert invoke(database_url, "export-audit", "--from", "yesterday", "--to", "2026-12-02", str(out)).exit_code == 2
    # when the period ends before it starts, or the branch does not exist, then it is refused with the code
    backwards = invoke(database_url, "export-audit", "--from", "2026-12-02", "--to", "2026-12-01", str(out))
    assert backwards.exit_code == 1 and "INVALID" in backwards.output
    unknown = invoke(database_url, "export-audit", "--from", "2026-12-01", "--to", "2026-12-02", "--branch", "NOPE",
                     str(out))  # fmt: skip
    assert unknown.exit_code == 1 and "NOT_FOUND" in unknown.output
    # and no file was left behind, whole or partial
    assert list(tmp_path.iterdir()) == []


def test_an_export_never_writes_over_what_is_not_a_regular_file_and_leaves_nothing_half_written(server_url, tmp_path):
    # given a database with the demo data, a file elsewhere that a link names, and a folder
    url, database_url = demo_database(server_url, "loyalty_cli_audit_targets_test")
    period = ("--from", "2026-12-01", "--to", "2026-12-02")
    kept = tmp_path / "kept.txt"
    kept.write_text("not an export")
    (tmp_path / "link.csv").symlink_to(kept)
    (tmp_path / "folder.csv").mkdir()
    # when the export is asked to write over the link, then it refuses in one line; over the folder, it is a
    # usage error
    refused = invoke(database_url, "export-audit", *period, str(tmp_path / "link.csv"))
    assert refused.exit_code == 1 and "not a regular file" in refused.output, refused.output
    assert invoke(database_url, "export-audit", *period, str(tmp_path / "folder.csv")).exit_code == 2
    assert kept.read_text() == "not an export"
    # when the folder to write in is not there, or a day is beyond the days kept, then one line too
    missing = invoke(database_url, "export-audit", *period, str(tmp_path / "no" / "audit.csv"))
    assert missing.exit_code == 1 and "No such file or directory" in missing.output
    far = invoke(database_url, "export-audit", "--from", "9999-12-31", "--to", "9999-12-31", str(tmp_path / "x.csv"))
    assert far.exit_code == 1 and "OUT_OF_RANGE" in far.output
    # and an export that is written is its owner's alone, with no partial file beside it
    done = tmp_path / "audit.csv"
    assert invoke(database_url, "export-audit", *period, str(done)).exit_code == 0
    assert done.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.csv", "folder.csv", "kept.txt", "link.csv"]
