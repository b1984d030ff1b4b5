"""The one error vocabulary of the product.

The domain raises `DomainError` with a code from `ErrorCode`; the GraphQL edge maps it,
in one place, to `payload.errors` (business failures) or to a top-level error
(authentication and authorization).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ErrorCode(StrEnum):
    # Input
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    DUPLICATE = "DUPLICATE"
    NOT_FOUND = "NOT_FOUND"
    # Authentication and authorization
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    LOCKED = "LOCKED"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    TOKEN_REVOKED = "TOKEN_REVOKED"
    # State
    INVALID_STATE = "INVALID_STATE"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"


@dataclass(frozen=True)
class Problem:
    code: ErrorCode
    message: str
    field: str | None = None


@dataclass
class DomainError(Exception):
    """One or more business failures; the operation wrote nothing."""

    problems: list[Problem] = field(default_factory=list)

    def __init__(self, code: ErrorCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.problems = [Problem(code, message, field)]

    @classmethod
    def of(cls, problems: list[Problem]) -> DomainError:
        assert problems, "a DomainError needs at least one problem"
        error = cls(problems[0].code, problems[0].message, problems[0].field)
        error.problems = list(problems)
        return error

    @property
    def code(self) -> ErrorCode:
        return self.problems[0].code


class RecordedRefusal(DomainError):
    """A refusal whose record must be kept (a failed identity proof or PIN): the transaction commits."""


class AccessDenied(Exception):
    """The caller may not do this at all: answered as a top-level error."""

    def __init__(self, code: ErrorCode = ErrorCode.FORBIDDEN, message: str = "Not allowed.") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
