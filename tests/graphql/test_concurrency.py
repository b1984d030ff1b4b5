"""Races between callers end in one success and a clear DUPLICATE, never a fault."""

from __future__ import annotations

import asyncio

import pytest

from tests.api import gid

CREATE_MEMBER = """mutation($input: CreateMemberInput!) { createMember(input: $input) { errors { code } } }"""
CREATE_CLUB = """mutation($input: CreateClubInput!) { createClub(input: $input) { errors { code } } }"""


async def race(api, query, variables, callers):
    for who in callers:
        await api.token(who)
    answers = await asyncio.gather(*(api.gql(query, variables, as_=who) for who in callers))
    return sorted(tuple(e["code"] for e in next(iter(a["data"].values()))["errors"]) for a in answers)


async def test_two_clerks_admitting_the_same_customer_make_one_member(api):
    variables = {
        "input": {
            "customerId": gid("Customer", api.demo.customers["Pearl River Trading Co."]),
            "clubId": gid("Club", api.demo.clubs["GD-CLUB"]),
            "gradeCode": "EMERALD",
        }
    }
    outcomes = await race(api, CREATE_MEMBER, variables, ["club_operator", "administrator", "hq_admin"])
    assert outcomes == [(), ("CUSTOMER_ALREADY_MEMBER",), ("CUSTOMER_ALREADY_MEMBER",)]
    assert await api.scalar("SELECT count(*) FROM member") == 4


async def test_two_administrators_taking_one_club_code_make_one_club(api):
    variables = {
        "input": {"branchId": gid("Branch", api.demo.branches["GD"]), "code": "RACE", "category": "c", "name": "n"}
    }
    outcomes = await race(api, CREATE_CLUB, variables, ["administrator", "hq_admin"])
    assert outcomes == [(), ("DUPLICATE",)]
    assert await api.scalar("SELECT count(*) FROM club WHERE code = 'RACE'") == 1


REDEEM = """mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) { errors { code } replayed } }"""
ADJUST_STOCK = "mutation($input: AdjustGiftStockInput!) { adjustGiftStock(input: $input) { errors { code } } }"
ADJUST_POINTS = "mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) { errors { code } } }"


def _redeem(api, key: str, code: str, quantity: int = 1, **more) -> dict:
    items = [{"itemId": gid("RewardItem", api.demo.rewards[code]), "quantity": quantity}]
    return {"input": {"items": items, "channel": "WEB", "idempotencyKey": key} | more}


async def test_fifty_redemptions_at_once_never_overdraw_a_member(api):
    # given Li Wei's 1,500 points and fifty requests at once for 300 points each
    await api.token("member")
    answers = await asyncio.gather(
        *(api.gql(REDEEM, _redeem(api, f"m-{n}", "MUSIC-MONTH"), as_="member") for n in range(50))
    )
    # then exactly five succeed, the others are refused for want of points, and the balance is 0
    outcomes = sorted(tuple(e["code"] for e in a["data"]["redeemPoints"]["errors"]) for a in answers)
    assert outcomes == [()] * 5 + [("INSUFFICIENT_POINTS",)] * 45
    assert await api.scalar("SELECT posted - held FROM points_balance WHERE member_id = :m",
                            m=api.demo.members["Li Wei"]) == 0  # fmt: skip
    assert await api.violations() == []


async def test_the_last_gift_goes_to_one_member_only(api):
    # given one umbrella left at GD, and two members served at the Guangzhou counter at once
    umbrella, gd = api.demo.rewards["GD-UMBRELLA"], api.demo.branches["GD"]
    counted = {"itemId": gid("RewardItem", umbrella), "branchId": gid("Branch", gd), "quantity": -19,
               "reason": "Counted", "idempotencyKey": "count-1"}  # fmt: skip
    adjusted = await api.data(ADJUST_STOCK, {"input": counted}, as_="club_operator")
    assert adjusted["adjustGiftStock"]["errors"] == []
    bonus = {"memberId": gid("Member", api.demo.members["Wang Fang"]), "points": 1_000, "reason": "Goodwill",
             "idempotencyKey": "bonus-1"}  # fmt: skip
    assert (await api.data(ADJUST_POINTS, {"input": bonus}, as_="hq_admin"))["adjustPoints"]["errors"] == []
    counter = gid("Outlet", api.demo.outlets["GD-COUNTER"])
    requests = [
        _redeem(api, f"u-{name}", "GD-UMBRELLA", channel="COUNTER", outletId=counter,
                memberId=gid("Member", api.demo.members[name]))
        for name in ("Li Wei", "Wang Fang")
    ]  # fmt: skip
    await api.token("agent")
    answers = await asyncio.gather(*(api.gql(REDEEM, r, as_="agent") for r in requests))
    outcomes = sorted(tuple(e["code"] for e in a["data"]["redeemPoints"]["errors"]) for a in answers)
    assert outcomes == [(), ("ITEM_OUT_OF_STOCK",)]
    assert await api.scalar("SELECT quantity FROM gift_stock WHERE item_id = :i AND branch_id = :b",
                            i=umbrella, b=gd) == 0  # fmt: skip
    assert await api.violations() == []


async def test_one_key_sent_twice_at_once_redeems_once(api):
    await api.token("member")
    answers = await asyncio.gather(*(api.gql(REDEEM, _redeem(api, "same", "MIN-60"), as_="member") for _ in range(2)))
    assert sorted(a["data"]["redeemPoints"]["replayed"] for a in answers) == [False, True]
    assert await api.scalar("SELECT count(*) FROM redemption") == 1


async def test_adjustments_and_redemptions_of_one_member_at_once_never_deadlock(api):
    # given staff adjusting Li Wei's points while he redeems, twenty of each at once
    member = gid("Member", api.demo.members["Li Wei"])
    await api.token("member")
    await api.token("hq_admin")
    bonuses = [{"input": {"memberId": member, "points": 300, "reason": "Goodwill", "idempotencyKey": f"a-{n}"}}
               for n in range(20)]  # fmt: skip
    answers = await asyncio.gather(
        *(api.gql(ADJUST_POINTS, bonus, as_="hq_admin") for bonus in bonuses),
        *(api.gql(REDEEM, _redeem(api, f"r-{n}", "MUSIC-MONTH"), as_="member") for n in range(20)),
    )
    # then every request is answered (a redemption may find too few points), none fails on a lock
    assert all("errors" not in a for a in answers), [a for a in answers if "errors" in a]
    assert await api.violations() == []


CREATE_GRADE_RULE = """mutation($input: CreateGradeRuleInput!) { createGradeRule(input: $input) { errors { code } } }"""
CREATE_POINTS_RULE = (
    """mutation($input: CreatePointsRuleInput!) { createPointsRule(input: $input) { errors { code } } }"""
)


async def test_rules_made_at_once_for_the_same_dates_make_one_rule(api):
    # given twelve requests at once for an Emerald rule of GD from 2028, and six for a late penalty from 2030
    # (the one in force ending before)
    gd = gid("Branch", api.demo.branches["GD"])
    grade_rules = [{"input": {"gradeCode": "EMERALD", "windowMonths": 12, "alternatives": [{"arpuFen": 1_000 + n}],
                              "effectiveFrom": "2028-01-01", "branchId": gd}} for n in range(12)]  # fmt: skip
    points_rules = [{"input": {"kind": "LATE_PENALTY_PERCENT", "value": str(n), "effectiveFrom": "2030-01-01"}}
                    for n in range(6)]  # fmt: skip
    await api.scalar(
        "UPDATE points_rule SET effective_to = '2029-12-31' WHERE kind = 'LATE_PENALTY_PERCENT' RETURNING 1"
    )
    await api.token("hq_admin")
    made = await asyncio.gather(*(api.gql(CREATE_GRADE_RULE, v, as_="hq_admin") for v in grade_rules),
                                *(api.gql(CREATE_POINTS_RULE, v, as_="hq_admin") for v in points_rules))  # fmt: skip
    # then exactly one of each is made; the others find it in force
    outcomes = sorted(tuple(e["code"] for e in next(iter(a["data"].values()))["errors"]) for a in made)
    assert outcomes == [()] * 2 + [("RULE_ALREADY_IN_FORCE",)] * 16
    assert await api.scalar("SELECT count(*) FROM grade_rule WHERE effective_from = '2028-01-01'") == 1
    assert await api.scalar("SELECT count(*) FROM points_rule WHERE effective_from = '2030-01-01'") == 1


async def test_a_burst_of_pin_changes_of_one_card_waits_in_its_queue_holding_one_turn(api, monkeypatch):
    from domain import passwords

    # given hashes that take a while, and a member sending 12 changes of his card's PIN at once
    hash_secret = passwords.hash_secret

    async def slow_hash(secret: str) -> str:
        await asyncio.sleep(0.05)
        return await hash_secret(secret)

    monkeypatch.setattr(passwords, "hash_secret", slow_hash)
    await api.token("member")
    change = "mutation($input: ChangeCardPinInput!) { changeCardPin(input: $input) { errors { code } } }"
    same = {"input": {"cardNumber": "6211000000000001", "oldPin": "246810", "newPin": "246810"}}
    waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    burst = asyncio.gather(*(api.gql(change, same, as_="member") for _ in range(12)))
    # when they run, then they wait for each other in the process, holding no connection: none waits for the card's
    # row, and the other hashing turns stay free for everyone else's logins
    seen, turns_free = [], []
    while not burst.done():
        seen.append(await api.scalar(waiting))
        turns_free.append(not passwords.turn().locked())
        await asyncio.sleep(0.01)
    assert all(not a["data"]["changeCardPin"]["errors"] for a in await burst)
    assert max(seen) == 0 and all(turns_free), (seen, turns_free)


async def test_a_request_cancelled_while_it_waits_for_a_hashing_turn_gives_back_none(api):
    from domain import passwords
    from domain.work.commands import Command
    from domain.work.unit import UnitOfWork
    from loyalty.database import make_sessions

    class Hashing(Command):
        def hashes(self) -> bool:
            return True

    async def hash_something() -> None:
        async with UnitOfWork(make_sessions(api.engine)) as uow:
            await uow.run(lambda _uow, _command: asyncio.sleep(0), Hashing())

    # given every hashing turn of the process taken
    turns = passwords.turn()
    for _ in range(passwords.hashing_holders_max):
        await turns.acquire()
    # when a request waiting for one is cancelled (a sibling field of its document failed, say)
    waiting = asyncio.create_task(hash_something())
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    # then, the turns given back, there are as many as ever: none was given back that was not taken
    for _ in range(passwords.hashing_holders_max):
        turns.release()
    for _ in range(passwords.hashing_holders_max):
        await turns.acquire()
    assert turns.locked()
    for _ in range(passwords.hashing_holders_max):
        turns.release()
