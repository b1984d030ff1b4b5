"""The request being served, for what reports on it: the log lines, the metrics and the audit trail.

The edge of the app begins a record for every HTTP request (`begin`); whoever learns something about
the request fills it in (the GraphQL view: the caller and the operation; the mutation runner: the
outcome). The record is one mutable object in a context variable, so what a resolver running in a
task of its own writes is seen by the edge when it writes the request's log line. Outside a request
(the command line, a background run) there is none.
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token
from dataclasses import dataclass, field

from domain.access import MemberPrincipal, PartnerPrincipal, Principal, StaffPrincipal


class Outcome:
    """How a request ended, as the logs and the metrics name it."""

    OK = "ok"
    REFUSED = "refused"  # a business refusal: the payload's `errors`, or an access refusal
    ERROR = "error"  # the client's fault: a document or variables the service will not run
    UNAVAILABLE = "unavailable"  # ours, and expected under overload: no connection to the database in time
    INTERNAL = "internal"  # ours: an unexpected error, masked to the client


@dataclass(slots=True)
class RequestRecord:
    request_id: str
    client: str | None = None  # the address the request came from
    started: float = field(default_factory=time.perf_counter)
    principal_kind: str | None = None  # STAFF, MEMBER, PARTNER; None for an anonymous caller
    principal_id: int | None = None
    operation: str | None = None  # the operation's type and first root field: "mutation adjustPoints"
    operation_name: str | None = None  # the client's own name for it, if it gave one
    outcome: str = Outcome.OK
    codes: list[str] = field(default_factory=list)  # the error codes of the answer, in order
    trace_id: str | None = None  # the request's trace, when it is traced (`loyalty/tracing.py`)
    credential_refused: str | None = None  # why the credential it sent was refused (it ran as an anonymous caller's)

    def identify(self, principal: Principal) -> None:
        self.principal_kind, self.principal_id = principal_of(principal)

    def refused(self, code: str, outcome: str = Outcome.REFUSED) -> None:
        """An error code in the answer; the worst outcome so far stays."""
        self.codes.append(code)
        if _SEVERITY[outcome] > _SEVERITY[self.outcome]:
            self.outcome = outcome

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


_SEVERITY = {Outcome.OK: 0, Outcome.REFUSED: 1, Outcome.ERROR: 2, Outcome.UNAVAILABLE: 3, Outcome.INTERNAL: 4}


def principal_of(principal: Principal) -> tuple[str | None, int | None]:
    """(kind, id) of a caller: what logs and records name a caller by, never a credential."""
    if isinstance(principal, StaffPrincipal):
        return "STAFF", principal.staff_id
    if isinstance(principal, MemberPrincipal):
        return "MEMBER", principal.member_id
    if isinstance(principal, PartnerPrincipal):
        return "PARTNER", principal.partner_id
    return None, None


_current: ContextVar[RequestRecord | None] = ContextVar("loyalty_request", default=None)


def current() -> RequestRecord | None:
    return _current.get()


def begin(record: RequestRecord) -> Token:
    return _current.set(record)


def end(token: Token) -> None:
    _current.reset(token)
