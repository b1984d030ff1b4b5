"""The principals a process remembers (`domain/auth/principals.py`): no statement for a session in use, and
every change that ends or narrows a session heard of, at once in its own process and within a notification's
delivery in the others."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable

import pydantic
import pytest

from domain.access import StaffPrincipal
from domain.auth import principals as cache
from domain.auth import service as auth
from domain.auth.principals import Principals
from domain.auth.service import AuthPolicy
from domain.organisation.tables import StaffRole
from domain.work import driver
from loyalty.app import create_app
from loyalty.config import Settings
from tests.api import top_codes

ME = "{ me { memberNumber } }"
CHANGE = """mutation($input: ChangePasswordInput!) { changePassword(input: $input) { errors { code } } }"""
heard_seconds_max = 5.0  # how long a test waits for a notification to arrive (it takes milliseconds)


@pytest.fixture
async def listener(app, engine) -> AsyncIterator[dict]:
    """The app's principals, remembered while its listener hears their changes, as a served process does;
    and the listening connection, to take it away."""
    principals = app.state.services.policy(AuthPolicy).principals
    principals._quiet_until.clear()  # an earlier test's logout: its sessions' ids are reused in this one
    held: dict = {"principals": principals}

    async def connect():
        held["connection"] = await driver.connections_of(engine).connect()
        return held["connection"]

    connected = asyncio.Event()
    listening = asyncio.create_task(cache.listen(principals, connect, connected))
    await asyncio.wait_for(connected.wait(), heard_seconds_max)
    yield held
    listening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await listening


@pytest.fixture
def remembering(listener) -> Principals:
    return listener["principals"]


async def eventually(condition: Callable[[], bool]) -> None:
    for _ in range(int(heard_seconds_max / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not heard of in time")


async def me(api, token: str) -> dict:
    return (await api.post({"query": ME}, token)).json()


async def test_a_session_in_use_is_authenticated_without_a_statement(api, remembering, statements):
    # given a member whose first request looked their session up
    token = await api.token("member")
    assert "errors" not in await me(api, token)
    # when they ask again
    statements.clear()
    answer = await me(api, token)
    # then only the request's own statement was sent
    assert "errors" not in answer
    assert len(statements) == 1


async def test_nothing_is_remembered_while_nobody_listens(api, statements):
    # given the app's principals, with no listener (the connection lost, or never made)
    token = await api.token("member")
    await me(api, token)
    # when the member asks again, then the session is looked up again
    statements.clear()
    await me(api, token)
    assert len(statements) == 2


async def test_a_logout_ends_the_session_at_once_in_its_own_process(api, remembering):
    # given a member whose session is remembered
    token = await api.token("member")
    await me(api, token)
    assert len(remembering) == 1
    # when they log out, then the very next request with the same token is refused
    logout = await api.post({"query": "mutation { logout { errors { code } } }"}, token)
    assert logout.json()["data"]["logout"]["errors"] == []
    assert top_codes(await me(api, token)) == ["TOKEN_REVOKED"]


async def test_a_password_change_ends_every_session_of_the_person_at_once(api, remembering):
    # given a member logged in twice, both sessions remembered
    first = (await api.login("MEMBER", api.demo.member_numbers["Li Wei"]))["accessToken"]
    second = (await api.login("MEMBER", api.demo.member_numbers["Li Wei"]))["accessToken"]
    await me(api, first)
    await me(api, second)
    # when they change the password in the first
    variables = {"input": {"currentPassword": "demo-password", "newPassword": "a-new-password-2026"}}
    changed = await api.post({"query": CHANGE, "variables": variables}, first)
    assert changed.json()["data"]["changePassword"]["errors"] == []
    # then both old sessions are refused at once
    assert top_codes(await me(api, first)) == ["TOKEN_REVOKED"]
    assert top_codes(await me(api, second)) == ["TOKEN_REVOKED"]


async def test_a_partner_key_revoked_stops_at_once_in_its_own_process(api, remembering):
    # given a partner's key, remembered after its first request
    made = (await api.data(
        """mutation($input: CreatePartnerApiClientInput!) { createPartnerApiClient(input: $input) {
            credential client { id } } }""",
        {"input": {"partnerId": api.demo_partner_id("GD-MALL"), "name": "mall"}}, as_="hq_admin",
    ))["createPartnerApiClient"]  # fmt: skip
    key = made["credential"]
    assert top_codes(await me(api, key)) == ["FORBIDDEN"]  # known, and no member
    # when headquarters revokes it
    revoked = await api.data(
        """mutation($input: RevokePartnerApiClientInput!) { revokePartnerApiClient(input: $input) {
            errors { code } } }""", {"input": {"id": made["client"]["id"]}}, as_="hq_admin")  # fmt: skip
    assert revoked["revokePartnerApiClient"]["errors"] == []
    # then the very next request with the key is refused
    assert top_codes(await me(api, key)) == ["UNAUTHENTICATED"]


async def test_a_partner_suspended_has_its_keys_stop_at_once_in_its_own_process(api, remembering):
    # given a partner's key, remembered after its first request
    key = await api.partner_key("GD-MALL")
    assert top_codes(await me(api, key)) == ["FORBIDDEN"]  # known, and no member
    # when headquarters suspends the partner
    suspended = await api.data(
        """mutation($input: UpdatePartnerInput!) { updatePartner(input: $input) { errors { code } } }""",
        {"input": {"id": api.demo_partner_id("GD-MALL"), "status": "SUSPENDED"}}, as_="hq_admin")  # fmt: skip
    assert suspended["updatePartner"]["errors"] == []
    # then the very next request with the key is refused
    assert top_codes(await me(api, key)) == ["UNAUTHENTICATED"]


async def test_a_session_revoked_by_another_process_stops_once_heard_of(api, remembering):
    # given a member whose session is remembered
    token = await api.token("member")
    await me(api, token)
    # when another process revokes it
    await api.scalar("UPDATE auth_session SET revoked_at = now() RETURNING 1")
    # then this process forgets it when the notification arrives, and refuses the token
    await eventually(lambda: len(remembering) == 0)
    assert top_codes(await me(api, token)) == ["TOKEN_REVOKED"]


async def test_a_membership_ended_elsewhere_stops_its_sessions_once_heard_of(api, remembering):
    token = await api.token("member")
    await me(api, token)
    await api.scalar("UPDATE member SET status = 'ENDED' WHERE id = :id RETURNING 1", id=api.demo.members["Li Wei"])
    await eventually(lambda: len(remembering) == 0)
    assert top_codes(await me(api, token)) == ["TOKEN_REVOKED"]


async def test_a_staff_members_new_role_is_read_once_heard_of(api, remembering, engine):
    # given an operator whose session is remembered
    token = await api.token("club_operator")
    policy = api.client._transport.app.state.services.policy(AuthPolicy)
    assert (await auth.authenticate(engine, policy, token)).role == StaffRole.CLUB_OPERATOR
    # when another process makes them an auditor
    await api.scalar("UPDATE staff SET role = 'AUDITOR' WHERE username = 'gd.operator' RETURNING 1")
    # then the next request after the notification acts with the new role
    await eventually(lambda: len(remembering) == 0)
    found = await auth.authenticate(engine, policy, token)
    assert isinstance(found, StaffPrincipal) and found.role == StaffRole.AUDITOR


async def test_a_change_unrelated_to_principals_forgets_nothing(api, remembering):
    # given a remembered session
    token = await api.token("member")
    await me(api, token)
    # when a column no principal holds changes (the grade), and a branch is renamed (not moved)
    before = remembering.generation
    li_wei = api.demo.members["Li Wei"]
    await api.scalar("UPDATE member SET grade_code = 'EMERALD' WHERE id = :id RETURNING 1", id=li_wei)
    await api.scalar("UPDATE branch SET name = name || ' ' RETURNING 1")
    await api.scalar("SELECT pg_notify('loyalty_principals', 'm:0')")  # heard after the changes above
    await eventually(lambda: remembering.generation > before)
    # then the session is still remembered
    assert len(remembering) == 1


async def test_a_branch_moved_elsewhere_forgets_every_principal(api, remembering):
    # given two sessions remembered
    for who in ("member", "club_operator"):
        await me(api, await api.token(who))
    assert len(remembering) == 2
    # when a branch's path is written unchanged, then nothing is heard of
    before = remembering.generation
    await api.scalar("UPDATE branch SET path = path RETURNING 1")
    await api.scalar("SELECT pg_notify('loyalty_principals', 'm:0')")
    await eventually(lambda: remembering.generation > before)
    assert len(remembering) == 2
    # when a branch moves (its path changes), then every principal is forgotten
    moved = "UPDATE branch SET path = path || '0/' WHERE id = (SELECT max(id) FROM branch) RETURNING 1"
    await api.scalar(moved)
    await eventually(lambda: len(remembering) == 0)


async def test_a_partner_key_is_remembered_with_its_secret_and_forgotten_when_revoked(api, remembering):
    # given a partner key in use (made by an administrator, whose session is remembered too)
    key = await api.token("partner")
    await api.post({"query": "{ __typename }"}, key)
    assert len(remembering) == 2
    # when the same key id comes with another secret, then it is refused, remembered or not
    key_id, _, secret = key.partition(".")
    assert top_codes((await api.post({"query": ME}, f"{key_id}.{secret[::-1]}")).json()) == ["UNAUTHENTICATED"]
    # when another process revokes it, then it stops once heard of
    await api.scalar("UPDATE partner_api_client SET revoked_at = now() RETURNING 1")
    await eventually(lambda: len(remembering) == 1)
    assert top_codes((await api.post({"query": ME}, key)).json()) == ["UNAUTHENTICATED"]


async def test_a_lost_listener_stops_remembering_until_it_listens_again(api, listener, statements):
    # given a remembered session
    remembering = listener["principals"]
    token = await api.token("member")
    await me(api, token)
    # when the listening connection's server session ends
    await api.scalar("SELECT pg_terminate_backend(:pid)", pid=listener["connection"].get_server_pid())
    # then nothing is remembered while it is down, and every request is looked up
    await eventually(lambda: not remembering.listening)
    assert len(remembering) == 0
    statements.clear()
    await me(api, token)
    assert len(statements) == 2
    # and once it listens again, sessions are remembered again
    await eventually(lambda: remembering.listening)
    await me(api, token)
    assert len(remembering) == 1


def test_a_principal_is_remembered_for_its_seconds_only():
    # given principals remembered for 5 seconds on a clock of our own
    now = [100.0]
    principals = Principals(5.0, clock=lambda: now[0])
    principals.listening = True
    found = StaffPrincipal(7, StaffRole.AGENT, 2, "/1/2/", 11)
    principals.put(11, found, principals.generation)
    # when 4.9 seconds pass it is still there; at 5 it is not
    now[0] += 4.9
    assert principals.get(11) == found
    now[0] += 0.1
    assert principals.get(11) is None


def test_a_lookup_overtaken_by_a_change_is_not_remembered():
    # given a lookup that began before a change was heard of
    principals = Principals(5.0)
    principals.listening = True
    began = principals.generation
    principals.heard("t:7")
    # when it would remember what it read, then it does not
    principals.put(11, StaffPrincipal(7, StaffRole.AGENT, 2, "/1/2/", 11), began)
    assert principals.get(11) is None


def test_a_session_forgotten_by_its_own_process_is_not_remembered_again_for_its_seconds():
    now = [0.0]
    principals = Principals(5.0, clock=lambda: now[0])
    principals.listening = True
    found = StaffPrincipal(7, StaffRole.AGENT, 2, "/1/2/", 11)
    principals.forget([("s", 11)], quiet=True)
    principals.put(11, found, principals.generation)
    assert principals.get(11) is None
    now[0] += 5.0
    principals.put(11, found, principals.generation)
    assert principals.get(11) == found


@pytest.mark.parametrize("payload", ["*", "x:1", "s:", "s:1,a", "garbage"])
def test_a_notification_not_understood_forgets_everything(payload):
    principals = Principals(5.0)
    principals.listening = True
    principals.put(11, StaffPrincipal(7, StaffRole.AGENT, 2, "/1/2/", 11), principals.generation)
    principals.heard(payload)
    assert len(principals) == 0


@pytest.mark.parametrize("seconds", [-1, 5.01, 60])
def test_a_process_may_remember_principals_for_five_seconds_at_most(seconds):
    with pytest.raises(pydantic.ValidationError):
        Settings(_env_file=None, principal_cache_seconds=seconds)


async def test_a_served_app_hears_the_changes_while_it_serves(settings, engine, monkeypatch):
    # given an app served (its start-up and shutdown), without touching this run's garbage collector
    monkeypatch.setattr(gc, "freeze", lambda: None)
    monkeypatch.setattr(gc, "set_threshold", lambda *thresholds: None)
    app = create_app(settings, str(engine.url), engine=engine)
    principals = app.state.services.policy(AuthPolicy).principals
    # when it starts, then it listens; when it stops, it no longer remembers anything
    async with app.router.lifespan_context(app):
        await eventually(lambda: principals.listening)
    assert not principals.listening


async def test_a_lookup_under_way_when_the_listener_connects_is_answered(api, engine, monkeypatch):
    # given a member's session, looked up while nothing is remembered (the process starting)
    token = await api.token("member")
    policy = api.client._transport.app.state.services.policy(AuthPolicy)
    principals = policy.principals
    looked_up = auth.driver.rows

    async def connecting_meanwhile(*args, **kwargs):
        principals.listening = True  # the listener connects while the lookup waits for the database
        principals.clear()
        return await looked_up(*args, **kwargs)

    monkeypatch.setattr(auth.driver, "rows", connecting_meanwhile)
    try:
        # when it is authenticated, then it is answered, and what it read is not remembered
        found = await auth.authenticate(engine, policy, token)
        assert found.member_id == api.demo.members["Li Wei"]
        assert len(principals) == 0
    finally:
        principals.listening = False


def test_a_logout_not_yet_committed_stays_unremembered_whatever_is_heard_meanwhile():
    # given a session forgotten by its own process's logout, not committed yet
    principals = Principals(5.0)
    principals.listening = True
    found = StaffPrincipal(7, StaffRole.AGENT, 2, "/1/2/", 11)
    principals.forget([("s", 11)], quiet=True)
    # when everything is forgotten meanwhile (a branch moved), then the session is still not remembered
    principals.heard("*")
    principals.put(11, found, principals.generation)
    assert principals.get(11) is None


# --- rows of the small tables that change seldom ------------------------------------------------------------

PAGE = """{ members(first: 5) { edges { node { memberNumber grade { name } club { name branch { code } }
    branch { name } } } } }"""


async def logged_in(api) -> None:
    """The administrator logged in (the login's statements sent), nothing of the page read yet."""
    await api.data("{ members(first: 1) { edges { node { memberNumber } } } }", as_="hq_admin")


async def page(api) -> list[dict]:
    return [edge["node"] for edge in (await api.data(PAGE, as_="hq_admin"))["members"]["edges"]]


async def test_grades_clubs_and_branches_are_read_once_while_their_changes_are_heard_of(api, remembering, statements):
    # given a page of members read once, its grades, clubs and branches with it
    await logged_in(api)
    statements.clear()
    first = await page(api)
    read_first = len(statements)
    # when the page is read again
    statements.clear()
    again = await page(api)
    # then the same answer came without reading grades, clubs or branches (three statements fewer)
    assert again == first
    assert len(statements) == read_first - 3


async def test_a_branch_renamed_is_read_again_as_soon_as_it_is_heard_of(api, remembering):
    # given a page that shows each member's branch, remembered
    before = await page(api)
    name = before[0]["branch"]["name"]
    # when the first member's branch is renamed (not through this process)
    await api.scalar("UPDATE branch SET name = 'Renamed' WHERE name = :name RETURNING 1", name=name)
    # then the next pages show the new name once the change is heard of
    shown = {node["memberNumber"] for node in before if node["branch"]["name"] == name}

    async def renamed() -> bool:
        return all(node["branch"]["name"] == "Renamed" for node in await page(api) if node["memberNumber"] in shown)

    for _ in range(100):  # a second: well within the rows' lapse (5 s), so the change was heard of
        if await renamed():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the renamed branch was not read again")


MY_VIEW = (
    "{ me { memberNumber grade { name } club { name branch { code } } customer { name } accounts { accountNumber } } }"
)


async def test_me_joins_no_grade_club_or_branch_while_their_rows_are_remembered(api, remembering, statements):
    # given a member's own view read without a listener (its session looked up, then one statement joining
    # five tables)
    token = await api.token("member")
    remembering.listening = False
    statements.clear()
    joined = (await api.post({"query": MY_VIEW}, token)).json()
    assert len(statements) == 2 and "JOIN grade" in statements[-1]
    # when the process listens and has read the rows once (their loaders read them)
    remembering.listening = True
    assert (await api.post({"query": MY_VIEW}, token)).json() == joined
    statements.clear()
    again = (await api.post({"query": MY_VIEW}, token)).json()
    # then the view is the same, read in one statement of the member, their customer and accounts only
    assert again == joined
    assert len(statements) == 1 and "JOIN grade" not in statements[0] and "JOIN customer" in statements[0]


async def test_no_row_is_remembered_while_nobody_listens(api, statements):
    # given no listener
    await logged_in(api)
    statements.clear()
    await page(api)
    read_first = len(statements)
    # when the page is read again, then it reads every row again
    statements.clear()
    await page(api)
    assert len(statements) == read_first


def test_a_remembered_row_lapses_after_the_seconds_and_is_forgotten_on_a_change_or_a_loss():
    # given a row remembered at second 0 by principals kept 5 s
    now = [0.0]
    principals = Principals(5.0, clock=lambda: now[0])
    principals.listening = True
    principals.keep_row("grade", "code", "GOLD", "the row", principals.generation)
    assert principals.row("grade", "code", "GOLD") == "the row"
    # when 5 s have passed, then it is no longer given
    now[0] = 5.0
    assert principals.row("grade", "code", "GOLD") is cache.MISSING
    # and a change of a remembered table, or a row read before a change, is not kept
    principals.keep_row("grade", "code", "GOLD", "the row", principals.generation)
    principals.heard("r")
    assert principals.row("grade", "code", "GOLD") is cache.MISSING
    begun = principals.generation
    principals.heard("r")
    principals.keep_row("grade", "code", "GOLD", "the row", begun)
    assert principals.row("grade", "code", "GOLD") is cache.MISSING
    # and a table's rows by one column never meet its rows by another (branches by id and by path)
    principals.keep_row("branch", "id", 7, "branch seven", principals.generation)
    principals.keep_row("branch", "path", "/1/7/", "branch seven by path", principals.generation)
    assert dict(principals.rows("branch", "id")) == {7: "branch seven"}
    assert principals.row("branch", "path", 7) is cache.MISSING
    # and a row kept later lapses with its table's first (the table is kept for the seconds from then)
    now[0] = 7.0
    principals.keep_row("branch", "id", 8, "branch eight", principals.generation)
    now[0] = 10.0
    assert principals.row("branch", "id", 8) is cache.MISSING
    # and nothing of another table, or while nobody listens
    principals.keep_row("member", "id", 1, "a member", principals.generation)
    assert principals.row("member", "id", 1) is cache.MISSING
    principals.listening = False
    principals.keep_row("grade", "code", "GOLD", "the row", principals.generation)
    assert principals.row("grade", "code", "GOLD") is cache.MISSING
