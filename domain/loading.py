"""Rows by key for one request: a loader per (entity, key), reading the keys asked for together in one batch.

The request's fields ask for related rows by key one at a time, or a list's walk asks for a whole list's
keys at once (`loyalty/completion.py`); a loader reads the keys asked for in the same turns of the event
loop in one statement, each key at most once per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

MISSING: Any = object()  # what `Loader.peek` answers for a key it does not know yet


class Loader:
    """One request's values of one kind by key: each key is read at most once per request, and the keys
    asked for while the event loop runs the request's other fields are read in one batch, as a DataLoader
    does: one at a time (`load`, a future each), or a whole list's at once (`want` or `many`, no future per
    key). A value read or primed already is known at once (`peek`); a key being read already is not read
    again, but waited for."""

    __slots__ = ("_batch", "_fetch", "_reading", "known")

    def __init__(self, fetch: Callable[[list[Any]], Awaitable[list[Any]]]) -> None:
        self._fetch = fetch
        self.known: dict[Any, Any] = {}  # the values read or primed, by key: read, never written, by others
        self._batch: _Batch | None = None  # the batch being gathered, read when the event loop next turns
        self._reading: dict[Any, _Batch] = {}  # the keys of batches gathered or being read, by key

    def peek(self, key: Any) -> Any:
        return self.known.get(key, MISSING)

    def prime(self, key: Any, value: Any) -> None:
        self.known.setdefault(key, value)

    def load(self, key: Any) -> asyncio.Future[Any]:
        if key in self.known:
            future = asyncio.get_running_loop().create_future()
            future.set_result(self.known[key])
            return future
        futures = self._batch_of(key).futures
        future = futures.get(key)
        if future is None:
            future = futures[key] = asyncio.get_running_loop().create_future()
        return future

    def load_many(self, keys: Iterable[Any]) -> Awaitable[list[Any]]:
        return asyncio.gather(*map(self.load, keys))

    def want(self, key: Any) -> asyncio.Future[None]:
        """Read `key` (not known yet) with a batch; that batch's read, to wait for."""
        return self._batch_of(key).done

    def many(self, keys: Iterable[Any]) -> Awaitable[list[Any]]:
        """The values of `keys`, those unknown read with a batch (asked for now, as `load` does); a failed
        read raises."""
        keys = list(keys)
        reads = {id(d): d for d in (self.want(k) for k in keys if k not in self.known)}
        return self._after(keys, list(reads.values()))

    async def _after(self, keys: list[Any], reads: list[asyncio.Future[None]]) -> list[Any]:
        failure = None
        for read in reads:
            try:
                await asyncio.shield(read)  # one waiter cancelled cancels no one else's read
            except Exception as error:  # some key of the batch failed: these keys, perhaps not
                failure = failure or error
        if failure is not None and any(k not in self.known for k in keys):
            raise failure
        return [self.known[k] for k in keys]

    def _batch_of(self, key: Any) -> _Batch:
        batch = self._reading.get(key)
        if batch is None:
            batch = self._batch
            if batch is None:
                batch = self._batch = _Batch(asyncio.get_running_loop().create_future())
                asyncio.get_running_loop().call_soon(self._dispatch)
            batch.keys[key] = None
            self._reading[key] = batch
        return batch

    def _dispatch(self) -> None:
        if self._batch is not None:
            asyncio.ensure_future(self._answer(self._batch))

    async def _answer(self, batch: _Batch) -> None:
        # The batch gathers keys until this task starts: two turns of the event loop after its first key.
        if self._batch is batch:
            self._batch = None
        keys = list(batch.keys)
        stopped: BaseException | None = None
        try:
            values = list(await self._fetch(keys))
            if len(values) != len(keys):
                raise ReadFailed(f"a batch of {len(keys)} keys was answered with {len(values)} values")
        except Exception as error:  # the read failed: so does every wait for it
            values = [error] * len(keys)
        except BaseException as error:  # cancelled (the process stops): the waits fail, and this task stops
            stopped, values = error, [ReadFailed("the read was stopped")] * len(keys)
        finally:
            for key in keys:
                self._reading.pop(key, None)
        errors = {}
        for key, value in zip(keys, values, strict=True):
            if isinstance(value, BaseException):
                errors[key] = value
            else:
                self.known.setdefault(key, value)
        for key, future in batch.futures.items():
            if not future.done():
                _settle(future, self.known.get(key, MISSING), errors.get(key, LookupError(key)))
        _settle(batch.done, None if not errors else MISSING, next(iter(errors.values()), None))
        if batch.done.done() and not batch.done.cancelled():
            batch.done.exception()  # retrieved: a batch nobody waits for any more fails quietly
        if stopped is not None:
            raise stopped


class ReadFailed(Exception):
    """A loader's batch read that did not answer its keys."""


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if value is not MISSING:
        future.set_result(value)
    elif isinstance(error, Exception):
        future.set_exception(error)
    else:
        future.set_exception(ReadFailed(repr(error)))


class _Batch:
    __slots__ = ("done", "futures", "keys")

    def __init__(self, done: asyncio.Future[None]) -> None:
        self.done = done  # the whole batch read
        self.keys: dict[Any, None] = {}  # the keys it reads
        self.futures: dict[Any, asyncio.Future[Any]] = {}  # of the keys asked for by `load`, one each
