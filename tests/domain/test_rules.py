"""Pure rules: access, cursors, input checks. No database."""

from __future__ import annotations

from datetime import date

import pytest

from domain.access import (
    ROLE_PERMISSIONS,
    MemberPrincipal,
    PartnerPrincipal,
    Permission,
    StaffPrincipal,
    may_read_member,
    require_staff,
)
from domain.cards.common import card_number, parse_selection, pin
from domain.cards.stock import SelectsCards
from domain.errors import AccessDenied, DomainError, ErrorCode
from domain.members.tables import Member
from domain.organisation.tables import StaffRole
from domain.paging import PageRequest, _size, decode_cursor, encode_cursor
from domain.points.tables import LedgerTransaction
from domain.validation import Checker, search_terms, validity_end

GD = StaffPrincipal(1, StaffRole.CLUB_OPERATOR, 2, "/1/2/", 0)


def test_staff_cover_their_subtree_only():
    assert GD.covers("/1/2/")
    assert GD.covers("/1/2/7/")
    assert not GD.covers("/1/")
    assert not GD.covers("/1/22/")  # a sibling whose id starts with the same digit


def test_members_read_only_themselves():
    me = MemberPrincipal(member_id=5, branch_path="/1/2/", session_id=0)
    assert may_read_member(me, 5, "/1/2/")
    assert not may_read_member(me, 6, "/1/2/")
    assert not may_read_member(PartnerPrincipal(1, 1), 5, "/1/2/")
    assert not may_read_member(None, 5, "/1/2/")


@pytest.mark.parametrize(
    "permission", [Permission.PARTNER_CLIENT_MANAGE, Permission.PARTNER_MANAGE, Permission.STAFF_MANAGE]
)
def test_every_role_is_listed_and_only_administrators_manage_partners_their_keys_and_staff(permission):
    assert set(ROLE_PERMISSIONS) == set(StaffRole)
    assert {r for r, p in ROLE_PERMISSIONS.items() if permission in p} == {StaffRole.ADMINISTRATOR}


@pytest.mark.parametrize(
    ("principal", "code"),
    [
        (None, ErrorCode.UNAUTHENTICATED),
        (MemberPrincipal(1, "/1/", 0), ErrorCode.FORBIDDEN),
        (PartnerPrincipal(1, 1), ErrorCode.FORBIDDEN),
    ],
)
def test_require_staff_refuses_everyone_else(principal, code):
    with pytest.raises(AccessDenied) as refused:
        require_staff(principal, Permission.MEMBER_READ)
    assert refused.value.code == code


def test_cursors_round_trip_and_foreign_cursors_are_refused():
    history = (LedgerTransaction.effective_on, LedgerTransaction.id)
    members = (Member.id,)
    assert decode_cursor(encode_cursor("m", (42,)), "after", "m", members) == (42,)
    assert decode_cursor(encode_cursor("h", (date(2026, 10, 1), 7)), "after", "h", history) == (date(2026, 10, 1), 7)
    for bad in (
        "",
        "!!",
        encode_cursor("m", (1,))[:-2] + "x",
        "YWJj",
        encode_cursor("other", (1,)),  # a cursor of another list
        encode_cursor("m", (2**63,)),  # beyond any key
        encode_cursor("m", ("٤٢",)),  # digits, but not ASCII ones
        encode_cursor("m", (1, 2)),
        "é",
    ):
        with pytest.raises(DomainError) as refused:
            decode_cursor(bad, "after", "m", members)
        assert refused.value.code == ErrorCode.INVALID


@pytest.mark.parametrize(
    ("request_", "size"), [(PageRequest(), 20), (PageRequest(first=0), 0), (PageRequest(last=100), 100)]
)
def test_page_sizes(request_, size):
    assert _size(request_) == size


def test_first_and_last_together_are_refused():
    with pytest.raises(DomainError):
        _size(PageRequest(first=1, last=1))


def test_checker_collects_every_problem():
    check = Checker()
    check.text("name", "", required=True)
    check.email("email", "nope")
    check.past_date("birthDate", date(2999, 1, 1), date(2026, 1, 1))
    check.integer("limit", True, minimum=0, maximum=10)
    assert [(p.field, p.code) for p in check.problems] == [
        ("name", ErrorCode.REQUIRED),
        ("email", ErrorCode.INVALID),
        ("birthDate", ErrorCode.OUT_OF_RANGE),
        ("limit", ErrorCode.INVALID),
    ]
    with pytest.raises(DomainError) as raised:
        check.raise_if_any()
    assert len(raised.value.problems) == 4


def test_search_escapes_like_wildcards():
    text, pattern = search_terms(" 50%_off\\ ")
    assert text == "50%_off\\"
    assert pattern == "%50\\%\\_off\\\\%"


@pytest.mark.parametrize(
    ("value", "ok"),
    [("246810", True), ("135790", True), ("975310", True), ("123456", False), ("654321", False), ("000000", False),
     ("12345", False), ("12345a", False), (123456, False)],
)  # fmt: skip
def test_pins_are_six_digits_and_not_trivial(value, ok):
    check = Checker()
    assert (pin(check, "pin", value) is not None) == ok
    assert (not check.problems) == ok


@pytest.mark.parametrize(
    ("number_from", "number_to", "numbers", "size", "code"),
    [
        ("62100001", "62100010", None, 10, None),
        (None, None, ["62100001", "62100005"], 2, None),
        ("62100010", "62100001", None, None, ErrorCode.INVALID),
        ("62100001", "621000010", None, None, ErrorCode.INVALID),
        ("62100001", "62200001", None, None, ErrorCode.OUT_OF_RANGE),  # 100,001 > 100,000
        ("1234567", "1234568", None, None, ErrorCode.INVALID),  # 7 digits
        (None, None, None, None, ErrorCode.REQUIRED),
    ],
)
def test_card_selections(number_from, number_to, numbers, size, code):
    check = Checker()
    selection = parse_selection(check, SelectsCards(number_from=number_from, number_to=number_to, numbers=numbers))
    assert (selection.size if selection else None) == size
    assert {p.code for p in check.problems} == ({code} if code else set())


@pytest.mark.parametrize(
    ("start", "months", "last_day"),
    [
        (date(2024, 2, 29), 12, date(2025, 2, 28)),  # no 29 February: the anniversary is 1 March
        (date(2024, 2, 29), 48, date(2028, 2, 28)),  # a leap year again: the anniversary is 29 February
        (date(2026, 1, 31), 1, date(2026, 2, 28)),  # no 31 February: the anniversary is 1 March
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),  # no 31 April: the anniversary is 1 May
        (date(2026, 1, 28), 1, date(2026, 2, 27)),
        (date(2026, 1, 1), 12, date(2026, 12, 31)),
        (date(2026, 12, 31), 2, date(2027, 2, 28)),  # across a year end
        (date(2026, 3, 1), 12, date(2027, 2, 28)),
        (date(2027, 3, 1), 12, date(2028, 2, 29)),
    ],
)
def test_a_validity_ends_the_day_before_its_anniversary(start, months, last_day):
    assert validity_end(start, months) == last_day


@pytest.mark.parametrize("value", ["6211000000000001\n", "6211000000000001 ", "\n6211000000000001"])
def test_a_card_number_or_pin_with_a_line_break_is_no_card_number_or_pin(value):
    # given a number or PIN that is right but for a line break or a space at an end
    check = Checker()
    # when they are checked, then each is refused, never read as the card or PIN without it
    assert card_number(check, "card_number", value) is None
    assert pin(check, "pin", value.replace("6211000000000001", "135790")) is None
    assert [p.code for p in check.problems] == [ErrorCode.INVALID, ErrorCode.INVALID]
    assert card_number(Checker(), "card_number", "6211000000000001") == 6211000000000001
