"""job runs, and idempotency scopes named after commands

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

Every background run (the monthly accrual today; auto-redemption, grade review and settlement
next) is recorded in one table, `job_run`, by one job runner. The monthly runs move there
keeping their ids, so the global IDs clients hold (`MonthlyAccrual:<id>`) still resolve.

Idempotency scopes are now the command's type and the caller (`AdjustPoints:STAFF:7`) instead
of a GraphQL mutation's name, the stored result is the row's `{"id": …}`, and the request's
digest covers the command's fields. The keys used before move to their new scope, so a retry
of one is still recognised and never moves points twice: the points scopes get the digest and
result of the new form (both rebuilt from the entry the key made), so their retry answers as
before; a card loss keeps its digest (the new one covers the identity proof, never stored), so
its retry is refused as IDEMPOTENCY_CONFLICT — the card is LOST already either way.
"""

import hashlib
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

STATUSES = ("RUNNING", "DONE", "FAILED", "INTERRUPTED")
MONTHLY_ACCRUAL = "MONTHLY_ACCRUAL"
FIGURES = ("bills", "members", "points", "penalties")


def _status() -> sa.Enum:
    return sa.Enum(*STATUSES, name="status", native_enum=False, create_constraint=True, length=32)


def _move_identity_past_the_ids(table: str) -> None:
    op.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce(max(id), 0) + 1, false) FROM {table}")


def upgrade() -> None:
    op.create_table(
        "job_run",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("status", _status(), server_default="RUNNING", nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column("total", sa.BigInteger(), nullable=True),
        sa.Column("figures", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_job_run_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_run")),
    )
    op.create_index("ix_job_run_kind_subject", "job_run", ["kind", "subject", "id"], unique=False)
    figures = ", ".join(f"'{name}', {name}" for name in FIGURES)
    op.execute(
        f"""INSERT INTO job_run (id, kind, subject, status, staff_id, total, figures, error, started_at, finished_at)
            SELECT id, '{MONTHLY_ACCRUAL}', to_char(month, 'YYYY-MM'), status, staff_id, bills_total,
                   jsonb_build_object({figures}), error, started_at, finished_at
            FROM monthly_accrual_run"""
    )
    _move_identity_past_the_ids("job_run")
    op.drop_index("ix_monthly_accrual_run_month", table_name="monthly_accrual_run")
    op.drop_table("monthly_accrual_run")
    _rename_points_scopes(_NEW_POINTS_SCOPES)
    _rename_card_scopes(_NEW_CARD_SCOPES, "jsonb_build_object('id', CAST(result ->> 'card' AS bigint))")


def downgrade() -> None:
    _rename_card_scopes(_OLD_CARD_SCOPES, "jsonb_build_object('card', result ->> 'id')")
    _rename_points_scopes(_OLD_POINTS_SCOPES)
    op.create_table(
        "monthly_accrual_run",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("status", _status(), server_default="RUNNING", nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column("bills_total", sa.BigInteger(), nullable=False),
        sa.Column("bills", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("members", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("points", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("penalties", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_monthly_accrual_run_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monthly_accrual_run")),
    )
    op.create_index("ix_monthly_accrual_run_month", "monthly_accrual_run", ["month", "id"], unique=False)
    figures = ", ".join(f"coalesce(CAST(figures ->> '{name}' AS bigint), 0)" for name in FIGURES)
    op.execute(
        f"""INSERT INTO monthly_accrual_run (id, month, status, staff_id, bills_total, {", ".join(FIGURES)},
                                             error, started_at, finished_at)
            SELECT id, to_date(subject, 'YYYY-MM'), status, staff_id, coalesce(total, 0), {figures},
                   error, started_at, finished_at
            FROM job_run WHERE kind = '{MONTHLY_ACCRUAL}'"""
    )
    _move_identity_past_the_ids("monthly_accrual_run")
    op.drop_index("ix_job_run_kind_subject", table_name="job_run")
    op.drop_table("job_run")


# --- idempotency scopes ------------------------------------------------------------------------------


def _digest(request: dict[str, Any]) -> bytes:
    """As `domain/work/idempotency.py` computes it at this revision."""
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).digest()


Entry = Any  # the ledger entry a key made: a row of id, member_id, points, reason, entry_type, reverses_id
# (scope prefix before, scope prefix after, key of the stored result after, the request after) per command
PointsScope = tuple[str, str, str, Callable[[Entry], dict[str, Any]]]

_NEW_POINTS_SCOPES: list[PointsScope] = [
    ("adjustPoints:", "AdjustPoints:STAFF:", "id",
     lambda e: {"member_id": e.member_id, "points": e.points, "reason": e.reason, "entry_type": e.entry_type}),
    ("reversePointsTransaction:", "ReversePointsTransaction:STAFF:", "id",
     lambda e: {"transaction_id": e.reverses_id, "reason": e.reason}),
]  # fmt: skip
_OLD_POINTS_SCOPES: list[PointsScope] = [
    ("AdjustPoints:STAFF:", "adjustPoints:", "transaction",
     lambda e: {"member": e.member_id, "points": e.points, "reason": e.reason, "type": e.entry_type}),
    ("ReversePointsTransaction:STAFF:", "reversePointsTransaction:", "transaction",
     lambda e: {"transaction": e.reverses_id}),
]  # fmt: skip


def _rename_points_scopes(scopes: list[PointsScope]) -> None:
    """Each key of a points command under its other scope, with that form's result and request digest,
    rebuilt from the ledger entry the key made."""
    connection = op.get_bind()
    for before, after, result_key, request in scopes:
        rows = connection.execute(
            sa.text(
                """SELECT r.scope, r.key, t.id, t.member_id, t.points, t.reason, t.entry_type, t.reverses_id
                   FROM idempotency_record r
                   JOIN ledger_transaction t ON t.id = CAST(coalesce(r.result ->> 'id', r.result ->> 'transaction')
                                                            AS bigint)
                   WHERE starts_with(r.scope, :before)"""
            ),
            {"before": before},
        ).all()
        for row in rows:
            connection.execute(
                sa.text(
                    """UPDATE idempotency_record SET scope = :scope, request_sha256 = :digest,
                              result = jsonb_build_object(CAST(:result_key AS text), CAST(:id AS bigint))
                       WHERE scope = :old_scope AND key = :key"""
                ),
                {"scope": after + row.scope.removeprefix(before), "digest": _digest(request(row)),
                 "result_key": result_key, "id": row.id, "old_scope": row.scope, "key": row.key},
            )  # fmt: skip


_NEW_CARD_SCOPES = [
    ("reportCardLost:StaffPrincipal:", "ReportCardLost:STAFF:"),
    ("reportCardLost:MemberPrincipal:", "ReportCardLost:MEMBER:"),
]
_OLD_CARD_SCOPES = [(after, before) for before, after in _NEW_CARD_SCOPES]


def _rename_card_scopes(scopes: list[tuple[str, str]], result: str) -> None:
    """A card loss's keys under their other scope, with that form's result (the card's number)."""
    for before, after in scopes:
        op.execute(
            sa.text(
                f"""UPDATE idempotency_record SET scope = :after || substr(scope, length(:before) + 1),
                           result = {result}
                    WHERE starts_with(scope, :before)"""
            ).bindparams(before=before, after=after)
        )
