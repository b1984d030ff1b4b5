"""A request's loaders (`resolvers/area.py`): one read per batch of keys, each key read once, failures and
cancellations reaching exactly the callers that waited for them."""

from __future__ import annotations

import asyncio

import pytest

from domain.loading import MISSING, Loader, ReadFailed


class Reads:
    """A fetch function that records each batch it was asked for, and may fail or be slow."""

    def __init__(self, fail: set[int] = frozenset(), delay_seconds: float = 0.0, error: Exception | None = None):
        self.batches: list[list[int]] = []
        self.fail, self.delay_seconds, self.error = fail, delay_seconds, error

    async def __call__(self, keys: list[int]) -> list[object]:
        self.batches.append(list(keys))
        await asyncio.sleep(self.delay_seconds)
        if self.error is not None:
            raise self.error
        return [KeyError(k) if k in self.fail else f"value {k}" for k in keys]


async def test_keys_asked_for_in_one_turn_are_read_in_one_batch():
    # given a loader
    reads = Reads()
    loader = Loader(reads)
    # when keys are asked for one at a time and as a list, in the same turn of the event loop
    one, two, listed = loader.load(1), loader.load(2), loader.many([2, 3, 3])
    # then one batch reads each key once
    assert await one == "value 1" and await two == "value 2"
    assert await listed == ["value 2", "value 3", "value 3"]
    assert reads.batches == [[1, 2, 3]]


async def test_a_known_key_is_not_read_again_and_is_known_at_once():
    reads = Reads()
    loader = Loader(reads)
    loader.prime(9, "primed")
    assert await loader.many([1]) == ["value 1"]
    # when the keys are asked for again, then nothing is read
    assert loader.peek(1) == "value 1" and loader.peek(9) == "primed" and loader.peek(2) is MISSING
    assert await loader.load(1) == "value 1" and await loader.many([1, 9]) == ["value 1", "primed"]
    assert reads.batches == [[1]]


async def test_a_key_being_read_is_waited_for_not_read_again():
    # given a slow read of key 1 under way
    reads = Reads(delay_seconds=0.05)
    loader = Loader(reads)
    first = asyncio.ensure_future(loader.many([1]))
    await asyncio.sleep(0.01)
    # when key 1 is asked for again, with key 2, before it is in
    second = await asyncio.gather(loader.load(1), loader.many([1, 2]))
    # then key 1 was read once
    assert await first == ["value 1"]
    assert second == ["value 1", ["value 1", "value 2"]]
    assert reads.batches == [[1], [2]]


async def test_a_key_that_fails_fails_its_callers_only():
    reads = Reads(fail={2})
    loader = Loader(reads)
    good, bad, listed = loader.load(1), loader.load(2), loader.many([1])
    assert await good == "value 1" and await listed == ["value 1"]
    with pytest.raises(KeyError):
        await bad
    with pytest.raises(KeyError):
        await loader.many([1, 2])
    assert loader.peek(2) is MISSING  # a failure is not kept: asked again, it is read again
    assert reads.batches == [[1, 2], [2]]


async def test_a_failed_read_fails_every_caller_and_a_later_ask_reads_again():
    reads = Reads(error=RuntimeError("the database went away"))
    loader = Loader(reads)
    waits = [loader.load(1), loader.many([1, 2])]
    for wait in waits:
        with pytest.raises(RuntimeError):
            await wait
    reads.error = None
    assert await loader.many([1, 2]) == ["value 1", "value 2"]
    assert reads.batches == [[1, 2], [1, 2]]


async def test_a_caller_that_gives_up_cancels_no_one_elses_read():
    # given two callers waiting for the same slow batch
    reads = Reads(delay_seconds=0.05)
    loader = Loader(reads)
    impatient = asyncio.ensure_future(loader.many([1]))
    patient = asyncio.ensure_future(loader.many([1, 2]))
    await asyncio.sleep(0.01)
    # when one gives up, then the other still gets its values
    impatient.cancel()
    assert await patient == ["value 1", "value 2"]
    assert impatient.cancelled()


async def test_a_batch_answered_with_the_wrong_number_of_values_fails_its_callers():
    async def short(keys: list[int]) -> list[object]:
        return ["only one"]

    loader = Loader(short)
    waits = [loader.load(1), loader.many([1, 2])]
    for wait in waits:
        with pytest.raises(ReadFailed):
            await asyncio.wait_for(wait, 1)


async def test_a_read_stopped_midway_fails_its_callers_rather_than_cancelling_them():
    # given a read that is stopped while callers wait for it (the process stopping)
    started = asyncio.Event()

    async def endless(keys: list[int]) -> list[object]:
        started.set()
        await asyncio.sleep(3600)
        return []

    loader = Loader(endless)
    waits = [asyncio.ensure_future(loader.many([1])), loader.load(2)]
    await started.wait()
    reading = next(t for t in asyncio.all_tasks() if "_answer" in repr(t.get_coro()))
    reading.cancel()
    # then each caller is told its read failed, and is not itself cancelled
    for wait in waits:
        with pytest.raises(ReadFailed):
            await asyncio.wait_for(wait, 1)
