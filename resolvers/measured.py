"""What a mutation's end tells the metrics and the request's record (`domain/metrics.py`, `domain/requests.py`)."""

from __future__ import annotations

from typing import Any

from domain import metrics, requests
from domain.errors import Problem
from domain.points.tables import EntryType

_LOGINS = {"login"}
_LOCKED = {"LOCKED": "login", "CARD_PIN_LOCKED": "card"}  # the refusals of a locked account or card
_PROOFS = {"card_pin", "id_document_number", "subscriber_number"}  # a card's proofs: LOCKED there is the account's


def refused(operation: str, problems: list[Problem]) -> None:
    """A mutation answered with the payload's `errors`: by code, and the failed logins and PINs among them."""
    record = requests.current()
    for problem in problems:
        code = problem.code.value
        metrics.series(metrics.REFUSALS, operation, code).inc()
        if record is not None:
            record.refused(code)
        if operation in _LOGINS:
            metrics.LOGIN_FAILURES.labels(code).inc()
    credentials_refused(problems)


def credentials_refused(problems: list[Problem]) -> None:
    """The wrong PINs and the locked logins and cards among a request's problems (a quote's too: it checks
    the PIN as a redemption does)."""
    for problem in problems:
        code = problem.code.value
        if code in _LOCKED:
            proof = code == "LOCKED" and (problem.field or "").rpartition(".")[2] in _PROOFS
            metrics.THROTTLED.labels("card_presenter" if proof else _LOCKED[code]).inc()
        elif code == "INVALID_CREDENTIALS" and (problem.field or "").endswith("pin"):
            metrics.PIN_FAILURES.inc()


def succeeded(result: Any, replayed: bool) -> None:
    """A mutation that did what it was asked: the points it moved and the redemption it made (a replay
    moved nothing)."""
    if replayed or result is None:
        return
    entry_type, points = getattr(result, "entry_type", None), getattr(result, "points", None)
    if isinstance(points, int):
        if isinstance(entry_type, EntryType):  # a ledger transaction: an adjustment, a reversal
            metrics.series(metrics.POINTS_MOVED, entry_type.value).inc(abs(points))
        elif (channel := getattr(result, "channel", None)) is not None and getattr(result, "cancelled_points", 0) == 0:
            metrics.series(metrics.REDEMPTIONS, str(getattr(channel, "value", channel))).inc()
            metrics.series(metrics.POINTS_MOVED, EntryType.REDEMPTION.value).inc(points)
