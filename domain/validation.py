"""Input checks shared by every domain service.

Bad input is an error code, never an assertion (TigerStyle). A `Checker` collects every
problem of one request so that a client can show them all at once.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from typing import Any

from domain.errors import DomainError, ErrorCode, Problem

# Limits, units last.
name_length_max = 100
code_length_max = 32
text_length_max = 200
note_length_max = 500
email_length_max = 254
list_length_max = 20
password_length_min = 8
password_length_max = 128
money_fen_max = 2**31 - 1  # 21,474,836.47 yuan, what a GraphQL Int carries: far above any bill or credit limit
# Every date a client may send, in any argument: far enough either way for birth dates and rules
# ending in decades, near enough that the date arithmetic of a filter or a statement never overflows.
date_min = date(1900, 1, 1)
date_max = date(2199, 12, 31)
period_days_max = 3_660  # a period asked for (audit trail, card stock): its first and last days at most this apart
network_opened_on = date(1990, 1, 1)  # no account, line or membership is older


def validity_end(start: date, months: int) -> date:
    """The last day of a validity of `months` months (12 a year) from `start`: the day before its anniversary.
    An anniversary the month does not have (29 February in a common year, 31 April) is the 1st of the next
    month, so the validity ends on the month's last day: 2024-02-29 + 1 year ends 2025-02-28, 2026-01-31 + 1
    month ends 2026-02-28, 2026-01-28 + 1 month ends 2026-02-27. The database computes it alike
    (`validity_end`, migration 0029)."""
    year, month = divmod(start.month - 1 + months, 12)
    year, month = start.year + year, month + 1
    month_days = calendar.monthrange(year, month)[1]
    if start.day > month_days:
        return date(year, month, month_days)
    return date(year, month, start.day) - timedelta(days=1)


_phone = re.compile(r"^\+?[0-9][0-9 -]{4,19}$")
_email = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_code = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_digits = re.compile(r"^[0-9]{5,20}$")


# Characters no text the service keeps may hold, as they would garble or disguise it on a screen: control
# characters (line feed, carriage return and tab aside), the format characters (the marks and overrides of text
# direction, zero-width spaces, the soft hyphen, the byte order mark), the line and paragraph separators, and the
# fillers and blanks that print as nothing (a name of one Hangul filler looked nameless), all of which make two
# equal-looking texts differ. The zero-width (non-)joiner stays where a script needs it, between two letters of
# it (a Persian name); private-use characters stay too (registries keep rare characters of names there).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Zl", "Zp", "Cs"})
_BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_JOINERS = frozenset("\u200c\u200d")


def _invisible(text: str) -> bool:
    for at, c in enumerate(text):
        if c.isascii() or (unicodedata.category(c) not in _INVISIBLE_CATEGORIES and c not in _BLANKS):
            continue
        if c in _JOINERS and 0 < at < len(text) - 1:
            before, after = text[at - 1], text[at + 1]
            if not before.isascii() and before.isalpha() and not after.isascii() and after.isalpha():
                continue
        return True
    return False


_DOCUMENT_MARKS = frozenset("()-./")  # besides Latin letters, digits and Chinese characters


_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def document_number(text: str) -> str:
    """An ID document number as it is kept and compared: full-width forms as their plain ones (NFKC), the digits
    of any script as ASCII ones, no spaces, Latin letters in upper case (others as they are, as migration 0044
    puts them in any database's locale): `１１０１ 0119 9003 0300 3x` is `11010119900303003X`."""
    plain = "".join(unicodedata.normalize("NFKC", text).split())
    if not plain.isascii():
        plain = "".join(str(unicodedata.decimal(c)) if not c.isascii() and c.isdecimal() else c for c in plain)
    return plain.translate(_ASCII_UPPER)


def _document_character(c: str) -> bool:
    """Latin letters, digits, the marks, and Chinese characters (a military ID's 军字第…号): no letter of another
    script, where a Cyrillic Е or Х would pass for a Latin E or X and make one number two customers."""
    if c.isascii():
        return c.isalnum() or c in _DOCUMENT_MARKS
    return unicodedata.name(c, "").startswith(("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH"))


class Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, field: str, code: ErrorCode, message: str) -> None:
        self.problems.append(Problem(code, message, field))

    def raise_if_any(self) -> None:
        if self.problems:
            raise DomainError.of(self.problems)

    def required(self, field: str, value: Any) -> Any:
        """A value that may not be null (an enum, a flag): the value, or None with REQUIRED noted."""
        if value is None:
            self.fail(field, ErrorCode.REQUIRED, f"{field} is required.")
        return value

    def text(self, field: str, value: Any, *, length_max: int = text_length_max, required: bool = False) -> str | None:
        """A trimmed string, or None when absent and optional."""
        if value is None:
            if required:
                self.fail(field, ErrorCode.REQUIRED, f"{field} is required.")
            return None
        if not isinstance(value, str):
            self.fail(field, ErrorCode.INVALID, f"{field} must be text.")
            return None
        value = value.strip()
        if not value:
            if required:
                self.fail(field, ErrorCode.REQUIRED, f"{field} must not be empty.")
            return None
        if len(value) > length_max:
            self.fail(field, ErrorCode.TOO_LONG, f"{field} is longer than {length_max} characters.")
            return None
        if _CONTROL.search(value) or (not value.isascii() and _invisible(value)):
            self.fail(field, ErrorCode.INVALID, f"{field} holds a control or invisible character (line breaks and"
                      " tabs aside).")  # fmt: skip
            return None
        return value

    def pattern(self, field: str, value: Any, regex: re.Pattern[str], what: str, **kw: Any) -> str | None:
        text = self.text(field, value, **kw)
        if text is not None and not regex.fullmatch(text):
            self.fail(field, ErrorCode.INVALID, f"{field} is not a valid {what}.")
            return None
        return text

    def document(self, field: str, value: Any, *, required: bool = True) -> str | None:
        """An ID document number (`document_number`): letters, digits and ( ) - . / only."""
        text = self.text(field, value, length_max=code_length_max, required=required)
        if text is None:
            return None
        number = document_number(text)
        if not all(_document_character(c) for c in number):
            self.fail(field, ErrorCode.INVALID, f"{field} holds Latin letters, digits, Chinese characters and ( ) -"
                      " . / only.")  # fmt: skip
            return None
        if len(number) > code_length_max:  # plain forms may be longer (№ is No)
            self.fail(field, ErrorCode.TOO_LONG, f"{field} is longer than {code_length_max} characters.")
            return None
        return number

    def code(self, field: str, value: Any, *, required: bool = True) -> str | None:
        return self.pattern(
            field, value, _code, "code (letters, digits, _ . -)", length_max=code_length_max, required=required
        )

    def phone(self, field: str, value: Any, *, required: bool = False) -> str | None:
        return self.pattern(field, value, _phone, "phone number", length_max=24, required=required)

    def email(self, field: str, value: Any) -> str | None:
        return self.pattern(field, value, _email, "email address", length_max=email_length_max)

    def number(self, field: str, value: Any, *, required: bool = True) -> str | None:
        """Account, member and subscriber numbers: 5 to 20 digits."""
        return self.pattern(field, value, _digits, "number (5 to 20 digits)", length_max=20, required=required)

    def integer(self, field: str, value: Any, *, minimum: int, maximum: int) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(field, ErrorCode.INVALID, f"{field} must be a whole number.")
            return None
        if not minimum <= value <= maximum:
            self.fail(field, ErrorCode.OUT_OF_RANGE, f"{field} must be between {minimum} and {maximum}.")
            return None
        return value

    def period(self, field: str, start: date | None, end: date | None, days_max: int | None = period_days_max) -> None:
        """A period's last day (`field`) not before its first, and at most `days_max` days after it (None: any)."""
        if start and end and start > end:
            self.fail(field, ErrorCode.INVALID, "to must not be before from.")
        elif start and end and days_max is not None and (end - start).days > days_max:
            self.fail(field, ErrorCode.OUT_OF_RANGE, f"From and to are at most {days_max} days apart.")

    def past_date(self, field: str, value: date | None, today: date, earliest: date = date_min) -> date | None:
        if value is not None and not earliest <= value <= today:
            self.fail(field, ErrorCode.OUT_OF_RANGE, f"{field} must be between {earliest} and today.")
            return None
        return value

    def texts(self, field: str, values: Any, *, length_max: int = name_length_max) -> list[str] | None:
        if values is None:
            return None
        if len(values) > list_length_max:
            self.fail(field, ErrorCode.OUT_OF_RANGE, f"{field} holds at most {list_length_max} items.")
            return None
        cleaned = [self.text(field, v, length_max=length_max, required=True) for v in values]
        return [v for v in cleaned if v is not None]

    def password(self, field: str, value: Any) -> str | None:
        if not isinstance(value, str) or not password_length_min <= len(value) <= password_length_max:
            self.fail(
                field,
                ErrorCode.INVALID,
                f"{field} must be {password_length_min} to {password_length_max} characters.",
            )
            return None
        return value


key_digits_max = 18  # every key fits a bigint


def key_of(text: str) -> int | None:
    """The key an ID, a number or a cursor names: 1 to 18 ASCII digits, no leading zero; None for anything else,
    so that two different texts never name the same row."""
    if text.isascii() and text.isdigit() and len(text) <= key_digits_max and not text.startswith("0"):
        return int(text)
    return None


def bounded(value: date) -> date:
    """`value` when a client may send it (see `date_min`, `date_max`); OUT_OF_RANGE otherwise."""
    if not date_min <= value <= date_max:
        raise DomainError(ErrorCode.OUT_OF_RANGE, f"{value} is out of range: dates run from {date_min} to {date_max}.")
    return value


def bounded_moment(text: str) -> datetime:
    """A client's date and time, which must say its offset from UTC (a time without one is ambiguous
    across the club's time zones), within the bounds of every date."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise DomainError(ErrorCode.INVALID, f"{text} has no offset from UTC: add one, e.g. +08:00.")
    bounded(moment.date())
    return moment.astimezone(UTC)  # kept and answered in UTC, as every time is


def parse_month(text: Any) -> date:
    """'YYYY-MM' → the month's first day; ValueError when it is not one."""
    shaped = isinstance(text, str) and text.isascii() and len(text) == 7 and text[4] == "-"
    if not shaped or not (text[:4] + text[5:]).isdigit():
        raise ValueError("a month is YYYY-MM")
    return date.fromisoformat(text + "-01")


def month_first_day(text: str) -> date:
    """A client's 'YYYY-MM' → the month's first day, within the bounds of every date."""
    first_day = parse_month(text)
    if not date_min <= first_day <= date_max:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, f"{text} is out of range: months run from {date_min:%Y-%m} to {date_max:%Y-%m}."
        )
    return first_day


def search_terms(search: str) -> tuple[str, str]:
    """(exact text, LIKE pattern for "contains") of a free-text search, bounded in length."""
    text = search.strip()[:name_length_max]
    return text, "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def require_period(start: date, end: date) -> None:
    """Refuse a period of totals whose `to` is before its `from`, or more than `period_days_max` days after it."""
    check = Checker()
    check.period("to", start, end)
    check.raise_if_any()
