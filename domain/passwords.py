"""Argon2id hashing of passwords and card PINs through libpass.

A hash takes tens of milliseconds of one core and its memory cost in RAM: it runs on a small pool of threads
of its own (the hashing library lets go of the interpreter meanwhile), never on the event loop, so requests
that hash (logins, PIN checks) wait their turn there while every other request is served. Logins, password
changes and every command that checks or sets a secret (`Command.hashes`), which anyone may send in bursts, wait
for a `turn` before they take a database connection."""

from __future__ import annotations

import asyncio
import weakref
from concurrent.futures import ThreadPoolExecutor

from passlib.context import CryptContext

_context = CryptContext(schemes=["argon2"], argon2__type="ID")
# Longer input is never a valid secret; refusing it early also bounds the hashing work.
secret_length_max = 1_024
hashing_threads_max = 2  # hashes at once in a process (each holds its memory cost)
_hashing = ThreadPoolExecutor(max_workers=hashing_threads_max, thread_name_prefix="hashing")
# Requests that may hold a database connection while their hash waits for a thread: a burst of logins queues
# before it takes one (`turn`), so that it never empties the pool every other request needs.
hashing_holders_max = 2 * hashing_threads_max
_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


_queues: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


def queue(key: str) -> asyncio.Lock:
    """The requests of one thing (a login as typed, a card) in this process wait for each other here, holding no
    turn: a burst against one thing never takes the turns everything else needs (the database serialises them
    anyway)."""
    found = _queues.get(key)
    if found is None:
        found = _queues[key] = asyncio.Lock()
    return found


def turn() -> asyncio.Semaphore:
    """Held around a request's statements and the hash they wait for (a login, a password change), taken before
    the first statement: one of `hashing_holders_max` turns of the process (of its event loop)."""
    loop = asyncio.get_running_loop()
    turns = _turns.get(loop)
    if turns is None:
        turns = _turns[loop] = asyncio.Semaphore(hashing_holders_max)
    return turns


def configure(*, time_cost: int, memory_cost_kib: int, parallelism: int = 1) -> None:
    """Set the cost once at start-up; tests use a small cost to stay fast."""
    global _context
    _context = CryptContext(
        schemes=["argon2"],
        argon2__type="ID",
        argon2__rounds=time_cost,
        argon2__memory_cost=memory_cost_kib,
        argon2__parallelism=parallelism,
    )


async def hash_secret(secret: str) -> str:
    context = _context
    return await asyncio.get_running_loop().run_in_executor(_hashing, context.hash, secret)


async def verify_secret(secret: str, secret_hash: str | None) -> tuple[bool, str | None]:
    """(matches, new hash when the stored one was made with other parameters)."""
    return await asyncio.get_running_loop().run_in_executor(_hashing, _verify, _context, secret, secret_hash)


def _verify(context: CryptContext, secret: str, secret_hash: str | None) -> tuple[bool, str | None]:
    if secret_hash is None or not isinstance(secret, str) or len(secret) > secret_length_max:
        # Spend the same time as a real check so that timing tells nothing.
        context.dummy_verify()
        return False, None
    return context.verify_and_update(secret, secret_hash)
