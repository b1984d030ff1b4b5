"""Writing the audit trail: the event the unit of work records of every mutation of an authenticated caller.

The edge names the mutation (`Audit`: its operation and the node type of its result); the unit of work
(`domain/work/unit.py`) knows the rest: the caller, the time, the command and how it ended. It writes the
event with the mutation's own work, so that one never commits without the other:

- a mutation that is one statement sent alone (`uow.statement`) sends it `recorded`: the statement as a
  CTE and the event inserted from its result by a second, data-modifying CTE, in the same round trip. The
  outcome (OK, or REPLAYED when the statement answered a replayed key) and the result's id are read from
  the statement's own rows, so the event commits with the statement and is undone with it when it refuses;
- a mutation in the unit's transaction adds the event's INSERT before the commit (also when a recorded
  refusal commits, with its code);
- a mutation refused or failed, whose work was undone, has its event written on its own afterwards, with
  the refusal's code (INTERNAL for a fault).

Requests of anonymous callers write none (a login's attempts are recorded by `login_attempt`), nor do the
background jobs (their runs are recorded by `job_run`). An operator's commands that change who may do what
(`loyalty create-staff`, …) write theirs through `operator_event`.
"""

from __future__ import annotations

import dataclasses
import functools
import types
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Union, get_args, get_origin

import sqlalchemy as sa

from domain import requests
from domain.access import PartnerPrincipal, Principal
from domain.audit.tables import (
    AuditEvent,
    client_address_length_max,
    operation_length_max,
    request_id_length_max,
    target_length_max,
    targets_max,
)
from domain.auth.tables import PrincipalKind
from domain.columns import REPLAYED as REPLAYED_COLUMN
from domain.errors import AccessDenied, DomainError, ErrorCode
from domain.validation import key_of
from domain.work.commands import hints_of, node_type_of

OK = "OK"
REPLAYED = "REPLAYED"
NATIONAL_PATH = "/"  # the acting branch of a caller without one: only headquarters sees its events
CARD_NUMBER_FIELD = "card_number"  # a command's field ending so names a card by its number (`Card:<number>`)


@dataclass(frozen=True, slots=True)
class Audit:
    """What the edge tells the unit of work of the mutation it runs."""

    operation: str  # the mutation's field name: "adjustPoints"
    # The node type of the object the mutation answers with, named by its `id` ("PointsTransaction"); None
    # when the answer is not one node, or a node named otherwise (a card is named by its number, which the
    # command names already).
    result_type: str | None = None


# --- what the command names -----------------------------------------------------------------------


@functools.cache
def _plan(command_type: type) -> tuple[tuple[str, str, Any], ...]:
    """How to read a command type's targets: (field, "id" | "ids" | "card" | "nested", node type or plan)."""
    found: list[tuple[str, str, Any]] = []
    for field in dataclasses.fields(command_type):
        annotation = _present(hints_of(command_type)[field.name])
        many = get_origin(annotation) is list
        inner = _present(get_args(annotation)[0]) if many else annotation
        if (node := node_type_of(inner)) is not None:
            found.append((field.name, "ids" if many else "id", node))
        elif field.name.endswith(CARD_NUMBER_FIELD) and inner is str and not many:
            found.append((field.name, "card", "Card"))
        elif dataclasses.is_dataclass(inner) and not many and isinstance(inner, type):
            found.append((field.name, "nested", inner))
    return tuple(found)


def _present(annotation: Any) -> Any:
    """`X | None` → X."""
    if get_origin(annotation) in (Union, types.UnionType):
        present = [a for a in get_args(annotation) if a is not type(None)]
        return present[0] if len(present) == 1 else annotation
    return annotation


def targets_of(command: Any) -> list[str]:
    """The typed ids a command names (`Member:12`, `Card:8800000001`), in field order, at most `targets_max`:
    fields typed with an ID type (`MemberId`, a list of `RewardItemId`, …) and card numbers. Nothing else of
    the command is kept, so no secret, PIN or document number reaches the trail."""
    found: list[str] = []
    _collect(command, found)
    return found[:targets_max]


def _collect(command: Any, found: list[str]) -> None:
    for name, kind, node in _plan(type(command)):
        value = getattr(command, name)
        if value is None or len(found) >= targets_max:
            continue
        if kind == "id" and isinstance(value, int):
            found.append(f"{node}:{value}")
        elif kind == "ids" and isinstance(value, list):
            found.extend(f"{node}:{v}" for v in value[:targets_max] if isinstance(v, int))
        elif kind == "card" and isinstance(value, str) and (number := key_of(value)) is not None:
            found.append(f"{node}:{number}")  # as a card's global ID names it
        elif kind == "nested":
            _collect(value, found)


# --- how it ended ---------------------------------------------------------------------------------


def outcome_of(error: BaseException | None, replayed: bool = False) -> str:
    """OK, REPLAYED, the code of a refusal, DUPLICATE for a lost uniqueness race (as the edge answers it),
    or INTERNAL for anything else."""
    if error is None:
        return REPLAYED if replayed else OK
    if isinstance(error, DomainError | AccessDenied):
        return error.code.value
    if isinstance(error, sa.exc.IntegrityError):
        return ErrorCode.DUPLICATE.value
    return ErrorCode.INTERNAL.value


def event(
    audit: Audit,
    principal: Principal,
    now: datetime,
    remote_address: str | None,
    command: Any,
    result: Any = None,
    outcome: str = OK,
) -> dict[str, Any]:
    """The parameters of the event (`RECORD`, `recorded`): the caller and the request being served, if any."""
    kind, key = requests.principal_of(principal)
    assert kind is not None, "an anonymous caller's mutation is not audited"
    record = requests.current()
    address = remote_address or (record.client if record is not None else None)
    result_key = getattr(result, "id", None) if audit.result_type else None
    return _parameters(
        now,
        record.request_id if record is not None else None,
        PrincipalKind(kind),
        key,
        _branch_path(principal),
        address,
        audit.operation,
        targets_of(command) if command is not None else [],
        f"{audit.result_type}:{result_key}" if result_key is not None else None,
        outcome,
        principal.client_id if isinstance(principal, PartnerPrincipal) else None,
    ) | {"audit_result_type": audit.result_type}


def operator_event(
    operation: str,
    now: datetime,
    operator: tuple[int, str],
    result_id: str | None = None,
    outcome: str = OK,
    branch_path: str = NATIONAL_PATH,
) -> dict[str, Any]:
    """The parameters of the event (`RECORD`) of an operator's command at the host's command line
    (`create-staff`): the operator is `(uid, "user@host")`; the event is of the branch of the object the command
    made or changed (its auditors see it), or national (headquarters alone) when it made none."""
    uid, where = operator
    return _parameters(
        now, None, PrincipalKind.OPERATOR, uid, branch_path, where, operation, [], result_id, outcome, None
    )


def _parameters(
    now: datetime,
    request_id: str | None,
    kind: PrincipalKind,
    principal_id: int,
    branch_path: str,
    address: str | None,
    operation: str,
    targets: list[str],
    result_id: str | None,
    outcome: str,
    api_client_id: int | None,
) -> dict[str, Any]:
    """An event's columns as `RECORD`'s parameters, each text cut to its column's length."""
    return {
        "audit_occurred_at": now,
        "audit_request_id": request_id[:request_id_length_max] if request_id else None,
        "audit_principal_kind": kind,
        "audit_principal_id": principal_id,
        "audit_branch_path": branch_path,
        "audit_client_address": address[:client_address_length_max] if address else None,
        "audit_operation": operation[:operation_length_max],
        "audit_targets": targets,
        "audit_result_id": result_id[:target_length_max] if result_id else None,
        "audit_outcome": outcome,
        "audit_api_client_id": api_client_id,
    }


def _branch_path(principal: Principal) -> str:
    """The acting branch: the staff member's, the member's home branch, the partner's (national if unknown)."""
    if isinstance(principal, PartnerPrincipal):
        return principal.branch_path or NATIONAL_PATH
    return principal.branch_path  # type: ignore[union-attr]


# --- the statements -------------------------------------------------------------------------------

_TABLE = AuditEvent.__table__
_READ_FROM_RESULT = ("result_id", "outcome")  # what `recorded` reads from the statement's rows
_WRITTEN = [*(c.name for c in _TABLE.columns if c.name not in ("id", *_READ_FROM_RESULT)), *_READ_FROM_RESULT]


def _bind(name: str) -> sa.BindParameter:
    return sa.bindparam(f"audit_{name}", type_=_TABLE.c[name].type)


# The event on its own, or in the unit's transaction.
RECORD = sa.insert(_TABLE).values({name: _bind(name) for name in _WRITTEN}).inline()


@functools.cache  # the statements of hot paths are module constants: each is wrapped once per process
def recorded(statement: Any) -> sa.Select:
    """`statement` (a SELECT, typically of a database function's rows) and its event, in one statement:

        WITH audit_result AS (<statement>),
             audit_written AS (INSERT INTO audit_event (…) SELECT $…, <result id>, <outcome> FROM audit_result)
        SELECT <statement's columns> FROM audit_result

    The insert reads the statement's rows (an aggregate: one event, whatever their number), so it runs after
    the statement's work, sees whether it answered a replay (its `replayed` column) and names the row it
    returned. A statement that refuses takes the event with it; the unit of work then writes it on its own.
    """
    result = statement.cte("audit_result")
    columns = result.c
    outcome: Any = sa.literal_column(f"'{OK}'")
    if REPLAYED_COLUMN in columns:
        replayed = sa.func.bool_or(columns[REPLAYED_COLUMN])
        outcome = sa.case((replayed, sa.literal_column(f"'{REPLAYED}'")), else_=outcome)
    result_id: Any = sa.null()
    if "id" in columns:
        typed = sa.bindparam("audit_result_type", type_=sa.String).concat(sa.literal_column("':'"))
        typed = typed.concat(sa.cast(sa.func.min(columns.id), sa.Text))
        result_id = sa.func.left(typed, sa.literal_column(str(target_length_max)))
    values = [_bind(name) for name in _WRITTEN if name not in _READ_FROM_RESULT]
    source = sa.select(*values, result_id, outcome).select_from(result)
    written = sa.insert(_TABLE).from_select(_WRITTEN, source).cte("audit_written")
    return sa.select(*columns).add_cte(written)
