"""Delivering fulfilments to the billing system: each one recorded as soon as it is sent, so that a run stopped
midway, runs side by side and a cancellation meanwhile never have a bill credit, minutes or content paid twice."""

from __future__ import annotations

import asyncio

import pytest

from domain.redemption import fulfilment
from loyalty.database import make_sessions
from tests.api import gid
from tests.graphql.test_redemption import available
from tests.graphql.test_redemption_cancel import cancel, redeemed

COPIES = """INSERT INTO fulfilment (redemption_id, line_id, member_id, item_id, kind, account_id, quantity, amount)
            SELECT redemption_id, line_id, member_id, item_id, kind, account_id, quantity, amount
            FROM fulfilment, generate_series(2, :count) RETURNING 1"""
STATES = "SELECT string_agg(state || ' ' || attempts, ',' ORDER BY id) FROM fulfilment"
DOUBTS = "SELECT string_agg(fulfilment_id::text, ',' ORDER BY fulfilment_id) FROM fulfilment_doubt"
SETTLE = """mutation($input: SettleFulfilmentInput!) { settleFulfilment(input: $input) {
    errors { field code } fulfilment { state deliveredAt inDoubtSince
                                       settlements { outcome reference settledAt settledBy { username } } } } }"""
DELIVERIES = """query($filter: FulfilmentFilter) { fulfilments(filter: $filter) {
    edges { node { id state inDoubtSince } } } }"""


class Billing:
    """The billing system's gateway: records what it was sent; after `sends_max` sends it fails, or the run is
    stopped (the task cancelled) while it sends, having sent (`in_flight_sent`) or not."""

    def __init__(self, sends_max: int | None = None, stop: bool = False, in_flight_sent: bool = False) -> None:
        self.sent: list[int] = []
        self.sends_max, self.stop, self.in_flight_sent = sends_max, stop, in_flight_sent

    async def send(self, delivery) -> None:
        await asyncio.sleep(0)  # the gateway answers over the network: another run may go on meanwhile
        if self.sends_max is not None and len(self.sent) >= self.sends_max:
            if self.in_flight_sent:
                self.sent.append(delivery.id)
            if self.stop:
                raise asyncio.CancelledError
            raise ConnectionError("the billing system is down")
        self.sent.append(delivery.id)


async def pending(api, count: int) -> list[int]:
    """`count` PENDING fulfilments: Li Wei's 60 minutes, and copies of its fulfilment."""
    await redeemed(api, "d-1", ("MIN-60", 1))
    await api.scalar(COPIES, count=count)
    return list(range(1, count + 1))


async def test_a_run_stopped_midway_has_recorded_all_it_sent_and_the_next_sends_only_the_rest(api):
    # given 12 pending fulfilments, and a run stopped (SIGTERM, Ctrl-C) while the 8th is with the billing system
    ids = await pending(api, 12)
    sessions = make_sessions(api.engine)
    stopped = Billing(sends_max=7, stop=True, in_flight_sent=True)
    with pytest.raises(asyncio.CancelledError):
        await fulfilment.deliver_pending(sessions, stopped)
    # then the 7 it sent are DELIVERED and the rest still PENDING, untried: the one in flight too, in doubt
    assert stopped.sent == ids[:8]
    assert await api.scalar(STATES) == ",".join(["DELIVERED 0"] * 7 + ["PENDING 0"] * 5)
    assert await api.scalar(DOUBTS) == "8"
    # when the run is started again, then it sends the rest: the one in flight again (its id is the key the
    # billing system applies it once by), none of the 7
    again = Billing()
    assert await fulfilment.deliver_pending(sessions, again) == (5, 0)
    assert again.sent == ids[7:]
    assert await api.scalar(DOUBTS) is None
    assert await api.scalar(STATES) == ",".join(["DELIVERED 0"] * 12)


async def test_a_gateway_failing_midway_leaves_what_it_sent_delivered_and_the_rest_to_try_again(api):
    # given 6 pending fulfilments, and a gateway that goes down after 4
    ids = await pending(api, 6)
    sessions = make_sessions(api.engine)
    failing = Billing(sends_max=4)
    # when a run delivers them, then 4 are DELIVERED and the other 2 tried once, each once in the run
    assert await fulfilment.deliver_pending(sessions, failing) == (4, 0)
    assert await api.scalar(STATES) == ",".join(["DELIVERED 0"] * 4 + ["PENDING 1"] * 2)
    # and the next run sends only those 2
    again = Billing()
    assert await fulfilment.deliver_pending(sessions, again) == (2, 0)
    assert again.sent == ids[4:]


async def test_two_runs_side_by_side_send_each_fulfilment_once(api, monkeypatch):
    # given 40 pending fulfilments, more than a page of a run, and one gateway that both runs send through
    monkeypatch.setattr(fulfilment, "deliver_page_max", 8)
    ids = await pending(api, 40)
    sessions = make_sessions(api.engine)
    billing = Billing()
    # when two runs deliver at the same time
    counted = await asyncio.gather(*(fulfilment.deliver_pending(sessions, billing) for _ in range(2)))
    # then each fulfilment was sent once, and recorded once
    assert sorted(billing.sent) == ids
    assert sum(delivered for delivered, _ in counted) == 40 and all(failed == 0 for _, failed in counted)
    assert await api.scalar(STATES) == ",".join(["DELIVERED 0"] * 40)


async def test_a_cancellation_during_a_run_waits_for_no_delivery_but_the_one_under_way(api):
    # given Li Wei's 60 minutes (and copies), then 60 more redeemed after them, all pending
    ids = await pending(api, 5)
    later = await redeemed(api, "d-2", ("MIN-60", 1))
    await api.token("member")
    answers: list[dict] = []

    class CancellingBilling(Billing):
        async def send(self, delivery) -> None:
            if not self.sent and not answers:  # when the member cancels the later one during the first delivery
                answers.append({})
                answers[0] = await asyncio.wait_for(cancel(api, later["id"], "d-3"), timeout=10)
            await super().send(delivery)

    billing = CancellingBilling()
    assert await fulfilment.deliver_pending(make_sessions(api.engine), billing) == (5, 0)
    # then the cancellation did not wait for the run, its points came back, and its delivery was never sent
    assert answers[0]["errors"] == [] and answers[0]["redemption"]["status"] == "CANCELLED", answers
    assert billing.sent == ids
    assert await api.scalar(STATES) == ",".join(["DELIVERED 0"] * 5 + ["CANCELLED 0"])
    assert await api.violations() == []


@pytest.mark.parametrize("tries", [1, fulfilment.attempts_max], ids=["tried once", "failed"])
async def test_a_redemption_whose_delivery_was_tried_and_failed_is_not_cancelled(api, tries):
    # given Li Wei's 60 minutes, whose delivery the gateway failed (a timeout, say: it may have been applied)
    made = await redeemed(api, "d-1", ("MIN-60", 1))
    sessions = make_sessions(api.engine)
    for _ in range(tries):
        await fulfilment.deliver_pending(sessions, Billing(sends_max=0))
    await api.token("member")
    before = await api.fingerprint()
    # when he cancels it
    refused = await cancel(api, made["id"], "d-2")
    # then it is refused as a delivery in doubt, and nothing is written: no points come back beside the minutes
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [(["input", "redemptionId"], "FULFILMENT_IN_DOUBT")]
    assert await api.fingerprint() == before


async def test_a_delivery_retried_after_failing_stays_in_doubt_until_delivered(api):
    # given Li Wei's 60 minutes, whose delivery failed and which an operator set to be tried again
    made = await redeemed(api, "d-1", ("MIN-60", 1))
    sessions = make_sessions(api.engine)
    for _ in range(fulfilment.attempts_max):
        await fulfilment.deliver_pending(sessions, Billing(sends_max=0))
    await api.scalar("UPDATE fulfilment SET state = 'PENDING', attempts = 0 RETURNING 1")  # as retryFulfilment does
    # when he cancels it before the next run, then it is refused all the same (its last error is kept)
    refused = await cancel(api, made["id"], "d-2")
    assert [e["code"] for e in refused["errors"]] == ["FULFILMENT_IN_DOUBT"]
    # and once delivered, it is refused as delivered
    assert await fulfilment.deliver_pending(sessions, Billing()) == (1, 0)
    delivered = await cancel(api, made["id"], "d-3")
    assert [e["code"] for e in delivered["errors"]] == ["FULFILMENT_DELIVERED"]


async def settle(api, fulfilment_id: int, outcome: str, reference: str = "BSS-2026-000417") -> dict:
    given = {"id": gid("Fulfilment", fulfilment_id), "outcome": outcome, "reference": reference}
    return (await api.data(SETTLE, {"input": given}, as_="club_operator"))["settleFulfilment"]


async def in_doubt(api, tries: int = 1) -> dict:
    """Li Wei's 60 minutes, which the billing system may have applied: the gateway timed out `tries` times
    (FAILED after its attempts)."""
    made = await redeemed(api, "d-1", ("MIN-60", 1))
    for _ in range(tries):
        await fulfilment.deliver_pending(make_sessions(api.engine), Billing(sends_max=0))
    return made


class Killed(BaseException):
    """The process ending while the gateway holds a delivery: no handler of the sender's runs."""


@pytest.mark.parametrize("end", [asyncio.CancelledError, Killed], ids=["stopped", "killed"])
async def test_a_delivery_whose_sender_ended_while_the_gateway_held_it_is_in_doubt(api, end):
    # given Li Wei's 60 minutes, and a run that ends while the billing system holds the delivery (it may apply it)
    made = await redeemed(api, "d-1", ("MIN-60", 1))

    class Ending(Billing):
        async def send(self, delivery) -> None:
            raise end

    with pytest.raises(end):
        await fulfilment.deliver_pending(make_sessions(api.engine), Ending())
    # then it is PENDING, untried, and in doubt: his cancellation is refused and writes nothing
    assert await api.scalar(STATES) == "PENDING 0"
    await api.token("member")
    before = await api.fingerprint()
    refused = await cancel(api, made["id"], "d-2")
    assert [e["code"] for e in refused["errors"]] == ["FULFILMENT_IN_DOUBT"]
    assert "sent unanswered" in refused["errors"][0]["message"]
    assert await api.fingerprint() == before
    # and the operators' list of deliveries in doubt shows it since the send
    listed = await api.data(DELIVERIES, {"filter": {"inDoubt": True}}, as_="club_operator")
    [node] = [e["node"] for e in listed["fulfilments"]["edges"]]
    assert node["state"] == "PENDING" and node["inDoubtSince"] is not None
    assert (await api.data(DELIVERIES, {"filter": {"inDoubt": False}}, as_="club_operator"))["fulfilments"] == {
        "edges": []
    }
    assert await fulfilment.in_doubt(make_sessions(api.engine)) == 1


async def test_a_delivery_the_billing_system_applied_is_settled_delivered_and_not_sent_again(api):
    # given Li Wei's 60 minutes in doubt, still PENDING (the gateway failed once)
    made = await in_doubt(api)
    # when an operator, having asked the billing system, settles it as applied
    settled = await settle(api, 1, "APPLIED", "  BSS-2026-000417 ")
    # then it is DELIVERED, no longer in doubt, and the settlement says what, who, when, and the reference
    assert settled["errors"] == [], settled
    done = settled["fulfilment"]
    assert (done["state"], done["inDoubtSince"]) == ("DELIVERED", None)
    [kept] = done["settlements"]
    assert (kept["outcome"], kept["reference"], kept["settledBy"]) == (
        "APPLIED", "BSS-2026-000417", {"username": "gd.operator"}
    )  # fmt: skip
    assert done["deliveredAt"] == kept["settledAt"] is not None
    # and the next run sends nothing; his cancellation is refused as delivered
    sent = Billing()
    assert await fulfilment.deliver_pending(make_sessions(api.engine), sent) == (0, 0) and sent.sent == []
    assert [e["code"] for e in (await cancel(api, made["id"], "d-2"))["errors"]] == ["FULFILMENT_DELIVERED"]
    # and the member sees the delivery but not the operators' settlements
    mine = "query($id: ID!) { node(id: $id) { ... on Fulfilment { state settlements { reference } } } }"
    seen = await api.data(mine, {"id": gid("Fulfilment", 1)}, as_="member")
    assert seen["node"] == {"state": "DELIVERED", "settlements": []}


async def test_a_failed_delivery_the_billing_system_did_not_apply_is_settled_and_its_redemption_cancelled(api):
    # given Li Wei's 60 minutes in doubt and FAILED after its attempts
    made = await in_doubt(api, fulfilment.attempts_max)
    points = await available(api)
    # when the operator settles it as not applied
    settled = await settle(api, 1, "NOT_APPLIED", "BSS-2026-000418: no such credit")
    # then it stays FAILED, no longer in doubt, sent by no run
    assert settled["errors"] == [], settled
    done = settled["fulfilment"]
    assert (done["state"], done["inDoubtSince"], done["deliveredAt"]) == ("FAILED", None, None)
    assert [s["outcome"] for s in done["settlements"]] == ["NOT_APPLIED"]
    sent = Billing()
    assert await fulfilment.deliver_pending(make_sessions(api.engine), sent) == (0, 0) and sent.sent == []
    # and the member's cancellation gives his 500 points back
    cancelled = await cancel(api, made["id"], "d-2")
    assert cancelled["errors"] == [] and cancelled["redemption"]["status"] == "CANCELLED", cancelled
    assert await available(api) == points + 500
    assert await api.violations() == []


async def test_a_delivery_a_run_may_send_again_is_not_settled_as_not_applied(api):
    # given Li Wei's 60 minutes in doubt but PENDING: the next run sends it again
    await in_doubt(api)
    await api.token("club_operator")
    before = await api.fingerprint()
    # when an operator settles it as not applied, then it is refused (the billing system's answer may be
    # overtaken by the next send) and nothing is written
    refused = await settle(api, 1, "NOT_APPLIED")
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [(["input", "id"], "FULFILMENT_NOT_FAILED")]
    assert await api.fingerprint() == before


async def test_only_a_delivery_in_doubt_is_settled(api):
    # given Li Wei's 60 minutes, not yet sent
    await redeemed(api, "d-1", ("MIN-60", 1))
    await api.token("club_operator")
    before = await api.fingerprint()
    # when an operator settles it, then it is refused: it was never sent; nothing is written
    refused = await settle(api, 1, "APPLIED")
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [(["input", "id"], "FULFILMENT_NOT_IN_DOUBT")]
    assert await api.fingerprint() == before
    # and once settled, or delivered, it is refused as well
    for _ in range(fulfilment.attempts_max):
        await fulfilment.deliver_pending(make_sessions(api.engine), Billing(sends_max=0))
    assert (await settle(api, 1, "NOT_APPLIED"))["errors"] == []
    again = await settle(api, 1, "APPLIED")
    assert [e["code"] for e in again["errors"]] == ["FULFILMENT_NOT_IN_DOUBT"]


@pytest.mark.parametrize(
    ("reference", "code"), [("   ", "REQUIRED"), ("BSS-1\nBSS-2", "INVALID"), ("B" * 101, "TOO_LONG")]
)
async def test_a_settlement_names_the_billing_systems_reference_on_one_line(api, reference, code):
    # given Li Wei's 60 minutes in doubt
    await in_doubt(api)
    await api.token("club_operator")
    before = await api.fingerprint()
    # when an operator settles it without a reference, with two lines, or too long a one
    refused = await settle(api, 1, "APPLIED", reference)
    # then it is refused on the reference, and nothing is written
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [(["input", "reference"], code)]
    assert await api.fingerprint() == before


async def test_a_delivery_settled_not_applied_and_retried_is_in_doubt_again_from_its_new_send(api):
    # given Li Wei's 60 minutes settled as not applied, then set to be tried again
    made = await in_doubt(api, fulfilment.attempts_max)
    first = await api.scalar("SELECT since FROM fulfilment_doubt")
    await settle(api, 1, "NOT_APPLIED", "BSS-1")
    retry = """mutation($id: ID!) { retryFulfilment(input: {id: $id}) { errors { code } fulfilment { state } } }"""
    retried = await api.data(retry, {"id": gid("Fulfilment", 1)}, as_="club_operator")
    assert retried["retryFulfilment"] == {"errors": [], "fulfilment": {"state": "PENDING"}}
    # when the gateway fails again, then it is in doubt again, since that send, and not cancelled
    await fulfilment.deliver_pending(make_sessions(api.engine), Billing(sends_max=0))
    assert await api.scalar("SELECT since FROM fulfilment_doubt WHERE fulfilment_id = 1") > first
    assert [e["code"] for e in (await cancel(api, made["id"], "d-2"))["errors"]] == ["FULFILMENT_IN_DOUBT"]
    # and settled again, both settlements are kept, oldest first
    assert (await settle(api, 1, "APPLIED", "BSS-2"))["fulfilment"]["settlements"][-1]["reference"] == "BSS-2"
    listed = await api.data(DELIVERIES.replace("inDoubtSince", "inDoubtSince settlements { outcome reference }"),
                            as_="club_operator")  # fmt: skip
    [node] = [e["node"] for e in listed["fulfilments"]["edges"]]
    assert node["settlements"] == [
        {"outcome": "NOT_APPLIED", "reference": "BSS-1"},
        {"outcome": "APPLIED", "reference": "BSS-2"},
    ]


async def test_settling_waits_for_a_delivery_under_way_and_finds_it_delivered(api):
    # given Li Wei's 60 minutes in doubt, and a run sending it again
    await in_doubt(api)
    answers = []

    class SettlingBilling(Billing):
        async def send(self, delivery) -> None:
            # when an operator settles it while the gateway holds it
            answers.append(asyncio.create_task(settle(api, 1, "APPLIED")))
            await asyncio.sleep(0.2)
            await super().send(delivery)

    assert await fulfilment.deliver_pending(make_sessions(api.engine), SettlingBilling()) == (1, 0)
    # then the settlement waited for the answer, and found the delivery made: not in doubt, and left as it is
    settled = await asyncio.wait_for(answers[0], timeout=10)
    assert [e["code"] for e in settled["errors"]] == ["FULFILMENT_NOT_IN_DOUBT"]
    assert await api.scalar(STATES) == "DELIVERED 1"
    assert await api.scalar("SELECT count(*) FROM fulfilment_settlement") == 0
