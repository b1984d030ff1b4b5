"""Delivering fulfilments to the billing system: each one recorded as soon as it is sent, so that a run stopped
midway, runs side by side and a cancellation meanwhile never have a bill credit, minutes or content paid twice."""

from __future__ import annotations

import asyncio

import pytest

from domain.redemption import fulfilment
from loyalty.database import make_sessions
from tests.graphql.test_redemption_cancel import cancel, redeemed

COPIES = """INSERT INTO fulfilment (redemption_id, line_id, member_id, item_id, kind, account_id, quantity, amount)
            SELECT redemption_id, line_id, member_id, item_id, kind, account_id, quantity, amount
            FROM fulfilment, generate_series(2, :count) RETURNING 1"""
STATES = "SELECT string_agg(state || ' ' || attempts, ',' ORDER BY id) FROM fulfilment"


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
    # then the 7 it sent are DELIVERED and the rest still PENDING, untried: the one in flight too
    assert stopped.sent == ids[:8]
    assert await api.scalar(STATES) == ",".join(["DELIVERED 0"] * 7 + ["PENDING 0"] * 5)
    # when the run is started again, then it sends the rest: the one in flight again (its id is the key the
    # billing system applies it once by), none of the 7
    again = Billing()
    assert await fulfilment.deliver_pending(sessions, again) == (5, 0)
    assert again.sent == ids[7:]
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
