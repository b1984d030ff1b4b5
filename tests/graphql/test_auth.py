"""Login, lockout, token expiry, refresh rotation, logout, password change, partner keys."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

import httpx
import jwt
import pytest
import sqlalchemy as sa

from domain import clock
from loyalty.demo import DEMO_PASSWORD
from tests.api import errors_of, gid, top_codes

ME = "{ me { memberNumber customer { name } } }"
REFRESH = """mutation($input: RefreshTokenInput!) { refreshToken(input: $input) {
    errors { field code message } tokens { accessToken refreshToken } } }"""
CHANGE = """mutation($input: ChangePasswordInput!) { changePassword(input: $input) {
    errors { field code message } tokens { accessToken refreshToken } } }"""


async def ask(api, query, token, variables=None):
    response = await api.post({"query": query, "variables": variables or {}}, token)
    assert response.status_code == 200
    return response.json()


def shift_clock(monkeypatch, delta: timedelta) -> None:
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + delta)


async def test_member_logs_in_with_member_number_or_subscriber_number(api):
    by_number = await api.login("MEMBER", api.demo.member_numbers["Li Wei"])
    by_line = await api.login("MEMBER", "13800000001")
    for tokens in (by_number, by_line):
        answer = await ask(api, ME, tokens["accessToken"])
        assert answer["data"]["me"]["customer"]["name"] == "Li Wei"
        assert tokens["kind"] == "MEMBER"


NEW_MEMBER = """mutation($input: CreateMemberInput!) { createMember(input: $input) {
    errors { code } member { memberNumber } } }"""
NEW_ACCOUNT = """mutation($input: CreateAccountInput!) { createAccount(input: $input) { errors { code } } }"""


async def test_a_member_number_names_its_member_whatever_line_is_numbered_like_it(api):
    # given Beijing staff give Zhang Min a line numbered as the next member number the club hands out
    upcoming = await api.scalar("SELECT last_value + is_called::int FROM member_number_seq")
    line = {"customerId": gid("Customer", api.demo.customers["Zhang Min"]), "accountNumber": "80000077",
            "subscriberNumbers": [str(upcoming)]}  # fmt: skip
    opened = await api.data(NEW_ACCOUNT, {"input": line}, as_="other_branch_operator")
    assert opened["createAccount"]["errors"] == []
    # when Guangdong staff then make a member of Pearl River Trading Co., then the number is skipped for them
    joining = {"customerId": gid("Customer", api.demo.customers["Pearl River Trading Co."]),
               "clubId": gid("Club", api.demo.clubs["SZ-CLUB"]), "gradeCode": "SAPPHIRE",
               "password": "pearl-river-1"}  # fmt: skip
    made = (await api.data(NEW_MEMBER, {"input": joining}, as_="club_operator"))["createMember"]
    assert made["member"]["memberNumber"] == str(upcoming + 1)
    # and each logs in as themselves: the new member by their number, Zhang Min by her new line
    tokens = await api.login("MEMBER", str(upcoming + 1), "pearl-river-1")
    assert (await ask(api, ME, tokens["accessToken"]))["data"]["me"]["customer"]["name"] == "Pearl River Trading Co."
    zhang = await api.login("MEMBER", str(upcoming))
    assert (await ask(api, ME, zhang["accessToken"]))["data"]["me"]["customer"]["name"] == "Zhang Min"


async def test_a_member_number_wins_over_a_line_numbered_like_it(api):
    # given a line of Zhang Min numbered as Li Wei's member number (from before such lines were refused)
    await api.scalar("""INSERT INTO subscriber_number (number, account_id, customer_id, activated_on)
                        SELECT :n, a.id, a.customer_id, '2026-01-01' FROM account a
                        JOIN customer c ON c.id = a.customer_id WHERE c.name = 'Zhang Min' LIMIT 1 RETURNING 1""",
                     n=api.demo.member_numbers["Li Wei"])  # fmt: skip
    # when that number logs in, then it names Li Wei
    tokens = await api.login("MEMBER", api.demo.member_numbers["Li Wei"])
    assert (await ask(api, ME, tokens["accessToken"]))["data"]["me"]["customer"]["name"] == "Li Wei"


async def test_staff_logs_in_with_username(api):
    tokens = await api.login("STAFF", "gd.operator")
    assert tokens["kind"] == "STAFF"
    assert (await ask(api, "{ branches { code } }", tokens["accessToken"]))["data"]["branches"]


@pytest.mark.parametrize("login", ["gd.operator", "nobody"])
async def test_wrong_password_or_unknown_login_is_refused_alike_and_recorded(api, login):
    outcome = await api.login("STAFF", login, "wrong-password")
    assert [e["code"] for e in outcome["errors"]] == ["INVALID_CREDENTIALS"]
    recorded = await api.scalar("SELECT count(*) FROM login_attempt WHERE login = :l AND NOT succeeded", l=login)
    assert recorded == 1
    sender = await api.scalar("SELECT remote_address FROM login_attempt WHERE login = :l", l=login)
    assert sender == "127.0.0.1"  # the test client's address: the record names where the attempt came from


async def test_a_staff_login_is_not_a_member_login(api):
    outcome = await api.login("MEMBER", "gd.operator")
    assert [e["code"] for e in outcome["errors"]] == ["INVALID_CREDENTIALS"]


LOGIN = """mutation($input: LoginInput!) { login(input: $input) { errors { code message } tokens { kind } } }"""


async def login_from(api, address: str, login: str, password: str = DEMO_PASSWORD, kind: str = "STAFF") -> tuple:
    """(code, message) of a login from `address`, or "OK"."""
    transport = httpx.ASGITransport(app=api.client._transport.app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        variables = {"input": {"kind": kind, "login": login, "password": password}}
        answer = (await client.post("/graphql", json={"query": LOGIN, "variables": variables})).json()
    errors = answer["data"]["login"]["errors"]
    return (errors[0]["code"], errors[0]["message"]) if errors else "OK"


async def test_the_addresses_of_one_ipv6_network_count_as_one(api):
    # given five wrong passwords for gd.agent, each from another address of one /64 network (one subscriber's)
    for host in range(1, 6):
        wrong = await login_from(api, f"2001:db8:0:7::{host:x}", "gd.agent", "wrong-password")
        assert wrong[0] == "INVALID_CREDENTIALS"
    # when a sixth address of that network tries, then it waits as one address would; another network does not
    assert (await login_from(api, "2001:db8:0:7::ffff", "gd.agent"))[0] == "LOCKED"
    assert await login_from(api, "2001:db8:0:8::1", "gd.agent") == "OK"
    assert await api.scalar("SELECT DISTINCT remote_address FROM login_attempt WHERE NOT succeeded") == (
        "2001:db8:0:7::/64"
    )


async def test_failures_from_one_address_make_that_address_wait_never_the_owner(api, monkeypatch):
    # given five wrong passwords for gd.agent from a stranger's address
    for _ in range(5):
        assert (await login_from(api, "10.0.0.66", "gd.agent", "wrong-password"))[0] == "INVALID_CREDENTIALS"
    # when the stranger tries again, even with the right password, that address waits
    assert (await login_from(api, "10.0.0.66", "gd.agent"))[0] == "LOCKED"
    # then the owner, from their own address, is let in all the same
    assert await login_from(api, "10.0.0.7", "gd.agent") == "OK"
    # and once the window (15 minutes) has passed, the stranger's address may try again
    for _ in range(5):
        await login_from(api, "10.0.0.66", "gd.agent", "wrong-password")
    shift_clock(monkeypatch, timedelta(minutes=16))
    assert await login_from(api, "10.0.0.66", "gd.agent") == "OK"
    reasons = await api.scalar("SELECT string_agg(reason, ',' ORDER BY id) FROM login_attempt WHERE login = 'gd.agent'")
    assert reasons == ",".join(["WRONG"] * 5 + ["THROTTLED", "OK"] + ["WRONG"] * 5 + ["OK"])


async def test_a_login_that_exists_and_one_that_does_not_are_answered_alike(api):
    # when a stranger tries a real login and a made-up one, six times each
    real = [await login_from(api, "10.0.0.66", "gd.agent", "wrong-password") for _ in range(6)]
    made_up = [await login_from(api, "10.0.0.66", "gd.nobody", "wrong-password") for _ in range(6)]
    # then every answer is the same, code and message (the lock's time aside)
    assert [(code, message[:40]) for code, message in real] == [(code, message[:40]) for code, message in made_up]
    assert [code for code, _ in real] == ["INVALID_CREDENTIALS"] * 5 + ["LOCKED"]


async def test_failures_from_everywhere_slow_a_login_down_but_never_lock_it(api, monkeypatch):
    # given twenty wrong passwords for gd.agent from four addresses (the ceiling)
    for address in range(4):
        for _ in range(5):
            await login_from(api, f"10.0.1.{address}", "gd.agent", "wrong-password")
    # when the owner tries at once from a fifth, they are asked to wait a moment
    code, message = await login_from(api, "10.0.0.7", "gd.agent")
    assert code == "LOCKED" and "seconds" in message
    # then a moment later they are let in: slowed, not locked out
    shift_clock(monkeypatch, timedelta(seconds=3))
    assert await login_from(api, "10.0.0.7", "gd.agent") == "OK"


async def test_strangers_failing_from_everywhere_never_slow_the_owner_at_an_address_they_used(api):
    # given gd.agent logged in from the office lately, then twenty wrong passwords from four other addresses
    assert await login_from(api, "10.0.0.7", "gd.agent") == "OK"
    for address in range(4):
        for _ in range(5):
            await login_from(api, f"10.0.1.{address}", "gd.agent", "wrong-password")
    # when the strangers' next try waits, then the owner at the office is let in at once
    assert (await login_from(api, "10.0.1.9", "gd.agent", "wrong-password"))[0] == "LOCKED"
    assert await login_from(api, "10.0.0.7", "gd.agent") == "OK"


async def test_a_members_numbers_share_one_allowance_of_failures(api):
    # given five wrong passwords for Zhang Min by her member number, from a stranger's address
    number = api.demo.member_numbers["Zhang Min"]
    for _ in range(5):
        await login_from(api, "10.0.0.66", number, "wrong-password", kind="MEMBER")
    # when the stranger goes on with her subscriber number, then that address waits for it as well
    assert (await login_from(api, "10.0.0.66", "13900000003", kind="MEMBER"))[0] == "LOCKED"
    # and the attempts are counted and listed under her member number
    logins = await api.scalar("SELECT string_agg(DISTINCT login, ',') FROM login_attempt")
    assert logins == number


async def test_one_address_trying_many_logins_waits_for_every_login(api):
    # given a hundred failed logins from one address, each of another made-up name (none reaches its own limit)
    for n in range(100):
        assert (await login_from(api, "10.0.0.66", f"nobody-{n}", "wrong-password"))[0] == "INVALID_CREDENTIALS"
    # when that address tries a real login with its right password, then it waits, and no password is checked
    assert (await login_from(api, "10.0.0.66", "gd.agent"))[0] == "LOCKED"
    # while another address is let in
    assert await login_from(api, "10.0.0.7", "gd.agent") == "OK"


@pytest.mark.parametrize("kind", ["PARTNER", "OPERATOR"])
async def test_partners_and_operators_do_not_log_in_with_a_password(api, kind):
    # when someone logs in as a partner (or an operator of the host) with a member's number and right password,
    # or a wrong one
    right = await login_from(api, "10.0.0.66", "13800000001", kind=kind)
    wrong = await login_from(api, "10.0.0.66", "13800000001", "wrong-password", kind=kind)
    # then both are refused alike, no password is checked, and no attempt counts against the member
    assert right[0] == wrong[0] == "INVALID"
    assert await api.scalar("SELECT count(*) FROM login_attempt") == 0


async def test_password_hashing_runs_off_the_event_loop(monkeypatch):
    # given a hashing context that notes the thread it runs on
    from domain import passwords

    threads = []

    class Noting:
        def verify_and_update(self, secret, secret_hash):
            threads.append(threading.current_thread().name)
            return True, None

        def hash(self, secret):
            threads.append(threading.current_thread().name)
            return "hashed"

    monkeypatch.setattr(passwords, "_context", Noting())
    # when a password is checked and one hashed, then both ran on the hashing threads, not the event loop's
    assert await passwords.verify_secret("secret", "stored") == (True, None)
    assert await passwords.hash_secret("secret") == "hashed"
    assert [name.startswith("hashing") for name in threads] == [True, True]


async def test_a_burst_of_logins_waits_for_its_hashes_without_holding_the_pool(api, monkeypatch):
    from domain import passwords

    held = []

    class Slow:  # a hash as slow as production's, that notes how many connections are taken meanwhile
        def verify_and_update(self, secret, secret_hash):
            held.append(api.engine.pool.checkedout())
            time.sleep(0.05)
            return False, None

        def dummy_verify(self):
            self.verify_and_update("", "")

    monkeypatch.setattr(passwords, "_context", Slow())
    # when 40 wrong logins of 40 logins arrive at once
    answers = await asyncio.gather(*(api.login("STAFF", f"nobody-{i}", "wrong-password") for i in range(40)))
    # then each is answered as a wrong login, and while they waited for the hashing threads, a few held a connection
    assert {a["errors"][0]["code"] for a in answers} == {"INVALID_CREDENTIALS"}
    assert len(held) == 40 and max(held) <= passwords.hashing_holders_max + 2, held  # + those finishing


async def test_a_burst_against_one_login_keeps_no_other_login_waiting(api, monkeypatch):
    from domain import passwords

    real = passwords._context

    class Slow:  # each check far slower than a real hash, whatever the machine's load: the order is the queue's
        def verify_and_update(self, secret, secret_hash):
            time.sleep(0.2)
            return real.verify_and_update(secret, secret_hash)

        def dummy_verify(self):
            time.sleep(0.2)

    monkeypatch.setattr(passwords, "_context", Slow())
    done: list[str] = []

    async def login(name: str, password: str, pause: float = 0) -> None:
        await asyncio.sleep(pause)
        await api.login("STAFF", name, password)
        done.append(name)

    # when twelve wrong logins of one name arrive at once, and gd.agent's a moment later
    await asyncio.gather(
        *(login("nobody", "wrong-password") for _ in range(12)), login("gd.agent", DEMO_PASSWORD, 0.01)
    )
    # then gd.agent is answered among the first, not after the burst
    assert done.index("gd.agent") < 4, done


async def test_a_successful_login_resets_the_failure_count(api):
    for _ in range(4):
        await api.login("STAFF", "gd.agent", "wrong-password")
    assert "accessToken" in await api.login("STAFF", "gd.agent")
    for _ in range(4):
        await api.login("STAFF", "gd.agent", "wrong-password")
    assert "accessToken" in await api.login("STAFF", "gd.agent")


async def test_an_ended_membership_cannot_log_in(api):
    await api.scalar("UPDATE member SET status = 'ENDED' WHERE id = :id RETURNING id", id=api.demo.members["Li Wei"])
    outcome = await api.login("MEMBER", api.demo.member_numbers["Li Wei"])
    assert outcome["errors"][0]["code"] == "INVALID_CREDENTIALS"


async def test_an_expired_access_token_is_refused_with_token_expired(api, monkeypatch):
    shift_clock(monkeypatch, timedelta(minutes=-20))  # issued 20 minutes ago, valid for 15
    tokens = await api.login("MEMBER", "13800000001")
    monkeypatch.undo()
    answer = await ask(api, ME, tokens["accessToken"])
    assert top_codes(answer) == ["TOKEN_EXPIRED"]
    assert answer["errors"][0]["message"] == "The access token has expired: refresh it, or log in again."


async def test_a_token_of_an_ended_session_is_refused_with_token_revoked_and_says_so(api):
    # given a member logged out
    tokens = await api.login("MEMBER", "13800000001")
    assert (await ask(api, "mutation { logout { errors { code } } }", tokens["accessToken"]))["data"]["logout"]
    # when the access token of the ended session is sent again, then the answer says the session has ended
    answer = await ask(api, ME, tokens["accessToken"])
    assert [(e["extensions"]["code"], e["message"]) for e in answer["errors"]] == [
        ("TOKEN_REVOKED", "The session has ended: log in again.")
    ]


async def test_a_caller_without_a_token_is_asked_to_log_in(api):
    answer = await ask(api, ME, None)
    assert [(e["extensions"]["code"], e["message"]) for e in answer["errors"]] == [("UNAUTHENTICATED", "Log in first.")]


@pytest.mark.parametrize("bearer", ["garbage", "a.b.c", "pk_unknown.secret", ""])
async def test_a_bad_bearer_credential_is_unauthenticated(api, bearer):
    response = await api.client.post(
        "/graphql", json={"query": ME}, headers={"authorization": f"Bearer {bearer}" if bearer else "Basic x"}
    )
    assert top_codes(response.json()) == ["UNAUTHENTICATED"]


async def test_refresh_rotates_and_the_old_refresh_token_stops_working(api):
    tokens = await api.login("MEMBER", "13800000001")
    renewed = (await ask(api, REFRESH, None, {"input": {"refreshToken": tokens["refreshToken"]}}))["data"]
    fresh = renewed["refreshToken"]["tokens"]
    assert fresh["refreshToken"] != tokens["refreshToken"]
    assert (await ask(api, ME, fresh["accessToken"]))["data"]["me"]
    replay = await ask(api, REFRESH, None, {"input": {"refreshToken": tokens["refreshToken"]}})
    assert [e["code"] for e in errors_of(replay, "refreshToken")] == ["TOKEN_REVOKED"]


@pytest.mark.parametrize("rotations", [1, 3])
async def test_a_refresh_token_used_twice_ends_the_whole_session(api, rotations):
    # given a session whose refresh token was rotated by one party, once or several times
    tokens = await api.login("MEMBER", "13800000001")
    fresh = tokens
    for _ in range(rotations):
        fresh = (await ask(api, REFRESH, None, {"input": {"refreshToken": fresh["refreshToken"]}}))["data"]
        fresh = fresh["refreshToken"]["tokens"]
    # when another party presents the first refresh token (it was copied)
    reused = await ask(api, REFRESH, None, {"input": {"refreshToken": tokens["refreshToken"]}})
    # then it is refused, and the session ends for both: the new tokens stop working too
    assert [e["code"] for e in errors_of(reused, "refreshToken")] == ["TOKEN_REVOKED"]
    assert top_codes(await ask(api, ME, fresh["accessToken"])) == ["TOKEN_REVOKED"]
    renewed = await ask(api, REFRESH, None, {"input": {"refreshToken": fresh["refreshToken"]}})
    assert [e["code"] for e in errors_of(renewed, "refreshToken")] == ["TOKEN_REVOKED"]


async def test_a_refresh_token_presented_twice_at_once_ends_the_whole_session(api):
    # given a session whose refresh token two parties present at the same moment (both wait on the session)
    tokens = await api.login("MEMBER", "13800000001")
    variables = {"input": {"refreshToken": tokens["refreshToken"]}}
    async with api.engine.connect() as holding:
        await holding.execute(
            sa.text("SELECT 1 FROM auth_session WHERE member_id = :m AND revoked_at IS NULL FOR UPDATE"),
            {"m": api.demo.members["Li Wei"]},
        )
        both = [asyncio.create_task(ask(api, REFRESH, None, variables)) for _ in range(2)]
        for _ in range(500):
            if await api.scalar("SELECT count(*) FROM pg_locks WHERE NOT granted") >= 2:
                break
            await asyncio.sleep(0.01)
        await holding.commit()
    answers = [(await answer)["data"]["refreshToken"] for answer in both]
    # then one of them is given new tokens, the other is refused, and the session ends for both
    (won,) = [a["tokens"] for a in answers if a["tokens"]]
    (lost,) = [a["errors"] for a in answers if not a["tokens"]]
    assert [(e["code"], "used already" in e["message"]) for e in lost] == [("TOKEN_REVOKED", True)]
    assert top_codes(await ask(api, ME, won["accessToken"])) == ["TOKEN_REVOKED"]
    renewed = await ask(api, REFRESH, None, {"input": {"refreshToken": won["refreshToken"]}})
    assert [e["code"] for e in errors_of(renewed, "refreshToken")] == ["TOKEN_REVOKED"]


async def test_a_made_up_refresh_token_ends_nobody_s_session(api):
    tokens = await api.login("MEMBER", "13800000001")
    made_up = await ask(api, REFRESH, None, {"input": {"refreshToken": "x" * 43}})
    assert [e["code"] for e in errors_of(made_up, "refreshToken")] == ["TOKEN_REVOKED"]
    assert (await ask(api, ME, tokens["accessToken"]))["data"]["me"]


async def test_an_expired_refresh_token_is_refused(api, monkeypatch):
    shift_clock(monkeypatch, timedelta(days=-31))
    tokens = await api.login("MEMBER", "13800000001")
    monkeypatch.undo()
    answer = await ask(api, REFRESH, None, {"input": {"refreshToken": tokens["refreshToken"]}})
    assert [e["code"] for e in errors_of(answer, "refreshToken")] == ["TOKEN_EXPIRED"]


@pytest.mark.parametrize("refresh_token", ["", "x" * 5000, "not-a-token"])
async def test_a_malformed_refresh_token_is_refused(api, refresh_token):
    answer = await ask(api, REFRESH, None, {"input": {"refreshToken": refresh_token}})
    assert [e["code"] for e in errors_of(answer, "refreshToken")] == ["TOKEN_REVOKED"]


async def test_logout_ends_the_session_at_once(api):
    tokens = await api.login("STAFF", "gd.operator")
    answer = await ask(api, "mutation { logout { errors { code } } }", tokens["accessToken"])
    assert answer["data"]["logout"]["errors"] == []
    assert top_codes(await ask(api, "{ branches { code } }", tokens["accessToken"])) == ["TOKEN_REVOKED"]
    replay = await ask(api, REFRESH, None, {"input": {"refreshToken": tokens["refreshToken"]}})
    assert errors_of(replay, "refreshToken")[0]["code"] == "TOKEN_REVOKED"


async def test_a_login_and_a_password_change_of_one_staff_at_once_are_both_answered(api, monkeypatch):
    from domain import passwords

    # given gd.agent's session, and hashes that take a moment
    tokens = await api.login("STAFF", "gd.agent")
    real = passwords._context

    class Slow:
        def verify_and_update(self, secret, secret_hash):
            time.sleep(0.3)
            return real.verify_and_update(secret, secret_hash)

        def hash(self, secret):
            return real.hash(secret)

        def dummy_verify(self):
            real.dummy_verify()

    monkeypatch.setattr(passwords, "_context", Slow())
    # when a wrong login of gd.agent and their password change arrive together
    change = {"input": {"currentPassword": DEMO_PASSWORD, "newPassword": "n3w-secret!"}}

    async def changed() -> dict:
        await asyncio.sleep(0.1)
        return await ask(api, CHANGE, tokens["accessToken"], change)

    wrong, answer = await asyncio.gather(api.login("STAFF", "gd.agent", "wrong-password"), changed())
    # then neither waits for the other in a cycle: both are answered
    assert wrong["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert answer["data"]["changePassword"]["errors"] == [], answer


def slowed_passwords(monkeypatch, *, verify_seconds: float = 0.0, hash_seconds: float = 0.0) -> None:
    """Password checks and hashes that take as long as given, whatever the machine's load."""
    from domain import passwords

    real = passwords._context

    class Slow:
        def verify_and_update(self, secret, secret_hash):
            time.sleep(verify_seconds)
            return real.verify_and_update(secret, secret_hash)

        def hash(self, secret):
            time.sleep(hash_seconds)
            return real.hash(secret)

        def dummy_verify(self):
            real.dummy_verify()

    monkeypatch.setattr(passwords, "_context", Slow())


@pytest.fixture
def costlier_hashes():
    """An operator raised the hashes' cost: a good login rehashes its stored password."""
    from domain import passwords

    passwords.configure(time_cost=2, memory_cost_kib=1024)
    yield
    passwords.configure(time_cost=1, memory_cost_kib=1024)


@pytest.mark.parametrize("rehashed", [False, True], ids=["same cost", "cost raised"])
async def test_a_login_with_the_old_password_during_its_change_is_refused(api, monkeypatch, request, rehashed):
    # given a member's session, a new password whose hash takes a moment (and, maybe, stored hashes due a rehash)
    if rehashed:
        request.getfixturevalue("costlier_hashes")
    tokens = await api.login("MEMBER", "13800000001")
    slowed_passwords(monkeypatch, hash_seconds=0.5)
    change = {"input": {"currentPassword": DEMO_PASSWORD, "newPassword": "n3w-secret!"}}

    async def intruder() -> dict:
        await asyncio.sleep(0.2)  # while the change hashes, before it commits
        return await api.login("MEMBER", "13800000001", DEMO_PASSWORD)

    # when someone logs in with the old password while the member changes it
    answer, intruded = await asyncio.gather(ask(api, CHANGE, tokens["accessToken"], change), intruder())
    # then the change is made, the old password is refused (no session opened with it), and the new one logs in
    assert answer["data"]["changePassword"]["errors"] == [], answer
    assert intruded["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert (await api.login("MEMBER", "13800000001"))["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert "accessToken" in await api.login("MEMBER", "13800000001", "n3w-secret!")


async def test_a_login_rehashing_and_a_password_change_at_once_are_both_answered(api, monkeypatch, costlier_hashes):
    # given a member's session, stored hashes due a rehash, and checks that take a moment
    tokens = await api.login("MEMBER", "13800000001")
    slowed_passwords(monkeypatch, verify_seconds=0.5)
    change = {"input": {"currentPassword": DEMO_PASSWORD, "newPassword": "n3w-secret!"}}

    async def changed() -> dict:
        await asyncio.sleep(0.2)  # while the login checks (and will rehash) the password
        return await ask(api, CHANGE, tokens["accessToken"], change)

    # when a good login and the password change arrive together
    logged, answer = await asyncio.gather(api.login("MEMBER", "13800000001", DEMO_PASSWORD), changed())
    # then both are answered, in turn (no deadlock), and the new password is the one that stays
    assert "accessToken" in logged
    assert answer["data"]["changePassword"]["errors"] == [], answer
    assert (await api.login("MEMBER", "13800000001"))["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert "accessToken" in await api.login("MEMBER", "13800000001", "n3w-secret!")


@pytest.mark.parametrize("rehashed", [False, True], ids=["same cost", "cost raised"])
async def test_a_login_does_not_wait_for_a_writer_of_its_persons_row(api, request, rehashed):
    # given a member's row held by a long write (a grade review's chunk, say), and maybe a hash due a rehash
    if rehashed:
        request.getfixturevalue("costlier_hashes")
    hashed = "SELECT password_hash FROM member WHERE id = :m"
    member = api.demo.members["Li Wei"]
    before = await api.scalar(hashed, m=member)
    async with api.engine.connect() as writer:
        await writer.execute(sa.text("SELECT 1 FROM member WHERE id = :m FOR NO KEY UPDATE"), {"m": member})
        # when the member logs in meanwhile
        tokens = await asyncio.wait_for(api.login("MEMBER", "13800000001"), timeout=10)
        await writer.rollback()
    # then the login is answered without waiting for the write, and its hash is left for a later login
    assert "accessToken" in tokens
    assert await api.scalar(hashed, m=member) == before


async def test_change_password_ends_every_session_and_returns_a_new_one(api):
    # given two sessions
    first = await api.login("MEMBER", "13800000001")
    second = await api.login("MEMBER", "13800000001")
    # when the member changes the password in the first
    answer = await ask(
        api, CHANGE, first["accessToken"], {"input": {"currentPassword": "demo-password", "newPassword": "n3w-secret!"}}
    )
    payload = answer["data"]["changePassword"]
    assert payload["errors"] == []
    # then both old sessions are over, the new one works, and only the new password logs in
    for old in (first, second):
        assert top_codes(await ask(api, ME, old["accessToken"])) == ["TOKEN_REVOKED"]
    assert (await ask(api, ME, payload["tokens"]["accessToken"]))["data"]["me"]
    assert (await api.login("MEMBER", "13800000001"))["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert "accessToken" in await api.login("MEMBER", "13800000001", "n3w-secret!")


@pytest.mark.parametrize(
    ("current", "new", "code", "field"),
    [
        ("wrong-password", "n3w-secret!", "INVALID_CREDENTIALS", "currentPassword"),
        ("demo-password", "short", "INVALID", "newPassword"),
        ("demo-password", "x" * 129, "INVALID", "newPassword"),
        ("demo-password", "demo-password", "INVALID", "newPassword"),
    ],
)
async def test_change_password_refusals_change_nothing(api, current, new, code, field):
    tokens = await api.login("MEMBER", "13800000001")
    hash_before = await api.scalar("SELECT password_hash FROM member WHERE id = :id", id=api.demo.members["Li Wei"])
    answer = await ask(api, CHANGE, tokens["accessToken"], {"input": {"currentPassword": current, "newPassword": new}})
    assert errors_of(answer, "changePassword") == [
        {"field": ["input", field], "code": code, "message": errors_of(answer, "changePassword")[0]["message"]}
    ]
    assert await api.scalar("SELECT password_hash FROM member WHERE id = :id", id=api.demo.members["Li Wei"]) == (
        hash_before
    )
    assert (await ask(api, ME, tokens["accessToken"]))["data"]["me"]


async def test_wrong_current_passwords_are_throttled_as_failed_logins(api):
    # given a session whose holder tries passwords through changePassword
    tokens = await api.login("MEMBER", "13800000001")
    tries = [{"input": {"currentPassword": f"guess-{n:04}", "newPassword": "n3w-secret!"}} for n in range(6)]
    codes = [errors_of(await ask(api, CHANGE, tokens["accessToken"], t), "changePassword")[0]["code"] for t in tries]
    # then after the logins' allowance, it must wait, even with the right password, and so must a login
    assert codes == ["INVALID_CREDENTIALS"] * 5 + ["LOCKED"]
    right = {"input": {"currentPassword": "demo-password", "newPassword": "n3w-secret!"}}
    assert [e["code"] for e in errors_of(await ask(api, CHANGE, tokens["accessToken"], right), "changePassword")] == [
        "LOCKED"
    ]
    assert (await api.login("MEMBER", "13800000001"))["errors"][0]["code"] == "LOCKED"
    # and the attempts are recorded under the member's number, as their logins' are
    assert (
        await api.scalar(
            "SELECT count(*) FROM login_attempt WHERE login = :n AND NOT succeeded AND reason = 'WRONG'",
            n=api.demo.member_numbers["Li Wei"],
        )
        == 5
    )


async def test_partner_key_authenticates_but_sees_no_member_data(api):
    key = await api.token("partner")
    assert key.startswith("pk_")
    assert top_codes(await ask(api, ME, key)) == ["FORBIDDEN"]
    assert top_codes(await ask(api, "{ members { edges { cursor } } }", key)) == ["FORBIDDEN"]


async def test_a_revoked_partner_key_stops_working_at_once(api):
    created = await api.data(
        """mutation($input: CreatePartnerApiClientInput!) { createPartnerApiClient(input: $input) {
            credential client { id keyId } } }""",
        {"input": {"partnerId": api.demo_partner_id("GD-MALL"), "name": "mall"}},
        as_="hq_admin",
    )
    credential = created["createPartnerApiClient"]["credential"]
    client = created["createPartnerApiClient"]["client"]
    assert credential.startswith(client["keyId"] + ".")
    assert top_codes(await ask(api, ME, credential)) == ["FORBIDDEN"]  # authenticated, not allowed
    revoked = await api.data(
        """mutation($input: RevokePartnerApiClientInput!) { revokePartnerApiClient(input: $input) {
            errors { code } client { revokedAt } } }""",
        {"input": {"id": client["id"]}},
        as_="hq_admin",
    )
    assert revoked["revokePartnerApiClient"]["client"]["revokedAt"]
    assert top_codes(await ask(api, ME, credential)) == ["UNAUTHENTICATED"]
    again = await api.gql(
        """mutation($input: RevokePartnerApiClientInput!) { revokePartnerApiClient(input: $input) {
            errors { code } } }""",
        {"input": {"id": client["id"]}},
        as_="hq_admin",
    )
    assert errors_of(again, "revokePartnerApiClient")[0]["code"] == "API_CLIENT_REVOKED"


async def test_secrets_never_reach_the_logs_or_the_attempt_records(api, caplog):
    await api.login("STAFF", "gd.operator", "my-typo-password")
    tokens = await api.login("STAFF", "gd.operator")
    stored = await api.scalar("SELECT string_agg(t::text, '|') FROM login_attempt t")
    for secret in ("my-typo-password", "demo-password", tokens["refreshToken"]):
        assert secret not in caplog.text
        assert secret not in stored


async def test_a_token_names_its_sessions_person_and_acts_for_no_one_else(api, settings):
    # given a member's session, and tokens for its id naming another person, or no person (an older token)
    tokens = await api.login("MEMBER", api.demo.member_numbers["Li Wei"])
    session = await api.scalar("SELECT max(id) FROM auth_session")
    signed = {"sid": session, "exp": time.time() + 60}
    someone_else = jwt.encode(signed | {"sub": "STAFF:1"}, settings.secret_key, algorithm="HS256")
    nobody = jwt.encode(signed, settings.secret_key, algorithm="HS256")
    # when they are used, then the other person's is refused as a session that has ended, the older one must be
    # refreshed, and the session's own token still works
    assert top_codes(await ask(api, ME, someone_else)) == ["TOKEN_REVOKED"]
    assert top_codes(await ask(api, ME, nobody)) == ["TOKEN_EXPIRED"]
    assert "errors" not in await ask(api, ME, tokens["accessToken"])
