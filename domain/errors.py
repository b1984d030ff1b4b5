"""The one error vocabulary of the product.

`ErrorCode` holds the generic codes: input shape, authentication, idempotency. Each area
declares its business refusals in `domain/<area>/errors.py` as a `StrEnum` (`CardErrorCode`:
`CARD_LOST`, …); clients see all of them as one `ErrorCode` enum, assembled by `every_code`.
The domain raises `DomainError` with a code; the GraphQL edge maps it, in one place, to
`payload.errors` (business failures) or to a top-level error (authentication, authorization).
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
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
    # No longer answered: every refusal of an object's state has its area's own code now (API guide,
    # "Error code changes"). Kept in the enum so that clients that name it still validate.
    INVALID_STATE = "INVALID_STATE"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    # The request itself, refused before anything ran (top-level errors only)
    BAD_REQUEST = "BAD_REQUEST"  # not a GraphQL-over-HTTP request: body not JSON, no query, wrong method or media type
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"  # the body is over its size limit (HTTP 413)
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"  # the document is not GraphQL
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"  # the document does not fit the schema
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"  # over a limit on length, depth, aliases, tokens or list items
    BAD_USER_INPUT = "BAD_USER_INPUT"  # a variable's value does not fit its type
    INTERNAL = "INTERNAL"  # our fault; the message tells nothing more
    UNAVAILABLE = "UNAVAILABLE"  # busy, or its database out of reach: nothing was done, try again shortly (HTTP 503)


def every_code() -> list[str]:
    """Every code a client may see: the generic ones, then each area's, found by walking `domain/`."""
    return list(_codes())


def code_named(value: str) -> StrEnum:
    """The code whose value is `value`, of whichever area declares it."""
    return _codes()[value]


@functools.cache
def _codes() -> dict[str, StrEnum]:
    import domain

    codes: dict[str, StrEnum] = {c.value: c for c in ErrorCode}
    for found in sorted(pkgutil.walk_packages(domain.__path__, "domain."), key=lambda f: f.name):
        if found.name.endswith(".errors") and found.name != __name__:
            module = importlib.import_module(found.name)
            for value in vars(module).values():
                if isinstance(value, type) and issubclass(value, StrEnum) and value.__module__ == found.name:
                    codes |= {c.value: c for c in value if c.value not in codes}
    return codes


@dataclass(frozen=True)
class Problem:
    code: StrEnum
    message: str
    field: str | None = None


@dataclass
class DomainError(Exception):
    """One or more business failures; the operation wrote nothing."""

    problems: list[Problem] = field(default_factory=list)

    def __init__(self, code: StrEnum, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.problems = [Problem(code, message, field)]

    @classmethod
    def of(cls, problems: list[Problem]) -> DomainError:
        assert problems, "a DomainError needs at least one problem"
        error = cls(problems[0].code, problems[0].message, problems[0].field)
        error.problems = list(problems)
        return error

    @property
    def code(self) -> StrEnum:
        return self.problems[0].code


class RecordedRefusal(DomainError):
    """A refusal whose record must be kept (a failed identity proof or PIN): the transaction commits."""


class AccessDenied(Exception):
    """The caller may not do this at all: answered as a top-level error."""

    def __init__(self, code: ErrorCode = ErrorCode.FORBIDDEN, message: str = "Not allowed.") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
