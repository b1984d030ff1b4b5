"""The principals a process remembers for a few seconds, so that a request costs no statement to authenticate.

Every authenticated request needs its principal: who the session's person is, their role, their branch's
path, and that the session, the person and their login are still good. Looked up on every request, that
is a round trip to the database before any work. A process therefore remembers what it found, by session
(or partner key), for at most `seconds` (5), and only while it hears the database say what changes:

- triggers (migration 0016) send a notification on the channel `CHANNEL` when a session is revoked, a
  member's status or branch changes, a staff member's role, branch or activity changes, a partner key is
  revoked, a partner's status changes (0051), or a branch moves; a row deleted or a table emptied says the same;
- each process listens on a connection of its own (`listen`), and forgets what a notification names as
  soon as it arrives: another worker's logout, or a suspension made at the counter, stops the session's
  next request everywhere within the notification's delivery (milliseconds);
- while that connection is down, the process remembers nothing and every request asks the database, as
  if there were no cache: nothing is remembered that a notification could no longer correct;
- a logout or a password change forgets the session in its own process before it commits, and its
  sessions are then not remembered again for `seconds`: the next request there asks the database, which
  by then has the revocation;
- a lookup that a notification overtook (it read the row before the change, and would remember it after
  the notification arrived) is not remembered.

So an entry can outlive its truth only by the delivery of one notification, and never by more than
`seconds` even if the notification were lost unseen.

The same holds for the rows of the small tables that nearly every page reads and that change seldom
(`REMEMBERED_TABLES`: grades, clubs, branches), which the request's loaders take from here
(`resolvers/area.py`): any change of them says "r" on the channel (migration 0018), and they are forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from types import MappingProxyType
from typing import Any

import asyncpg

from domain.access import MemberPrincipal, PartnerPrincipal, Principal, StaffPrincipal
from domain.loading import MISSING

log = logging.getLogger(__name__)

CHANNEL = "loyalty_principals"
seconds_max = 5.0  # the longest any process may remember a principal (docs/operations.md)
entries_max = 20_000  # principals one process remembers; the oldest is forgotten first
ping_seconds = 2.0  # how often the listening connection is checked, so that a silent loss is noticed
reconnect_seconds_max = 30.0

# The tables whose rows a process also remembers, by name: small, read by nearly every page, changed seldom;
# migration 0018 announces any change of them ("r").
REMEMBERED_TABLES = frozenset({"grade", "club", "branch"})
rows_max = 10_000  # rows of one of those tables one process remembers
_NONE: Mapping[Hashable, Any] = MappingProxyType({})

Owner = tuple[str, int]  # ("s", session id) | ("m", member id) | ("t", staff id) | ("p", partner key id)


def owners_of(principal: Principal) -> tuple[Owner, ...]:
    """The rows whose change a notification names, that this principal was read from."""
    if isinstance(principal, MemberPrincipal):
        return ("s", principal.session_id), ("m", principal.member_id)
    if isinstance(principal, StaffPrincipal):
        return ("s", principal.session_id), ("t", principal.staff_id)
    if isinstance(principal, PartnerPrincipal):
        return (("p", principal.client_id),)
    return ()


class Principals:
    """Principals by session id (or partner key id), each kept with the secret it was found with."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        assert 0 <= seconds <= seconds_max
        self.seconds = seconds
        self.clock = clock
        self.listening = False  # notifications arrive: only then is anything remembered
        self._entries: dict[Hashable, tuple[float, Principal, bytes | None, tuple[Owner, ...]]] = {}
        self._keys_of: dict[Owner, set[Hashable]] = {}
        self._quiet_until: dict[Owner, float] = {}  # owners not to be remembered again before then
        self.generation = 0  # raised by every change heard of: a lookup begun before it is not remembered
        # Rows of the small tables that change seldom (`REMEMBERED_TABLES`): by table and key column, the time
        # they lapse (the principals' seconds after the first was kept) and the rows by key. A page of members
        # reads its grades, clubs and branches from here: a request's loader starts out knowing them (`rows`).
        self._tables: dict[tuple[str, str], tuple[float, dict[Hashable, Any]]] = {}

    @property
    def active(self) -> bool:
        return self.listening and self.seconds > 0

    def get(self, key: Hashable, secret: bytes | None = None) -> Principal:
        """The principal remembered for `key` (and `secret`, for a partner key), or None."""
        found = self._entries.get(key)
        if found is None:
            return None
        until, principal, kept_secret, _ = found
        if until <= self.clock():
            return None
        if kept_secret is not None or secret is not None:
            if kept_secret is None or secret is None or not hmac.compare_digest(kept_secret, secret):
                return None
        return principal

    def put(self, key: Hashable, principal: Principal, generation: int, secret: bytes | None = None) -> None:
        """Remember what a lookup begun at `generation` found, unless a change was heard of since."""
        if not self.active or generation != self.generation:
            return
        owners = owners_of(principal)
        now = self.clock()
        if any(self._quiet_until.get(owner, 0.0) > now for owner in owners):
            return
        self._drop(key)
        if len(self._entries) >= entries_max:
            self._drop(next(iter(self._entries)))
        self._entries[key] = (now + self.seconds, principal, secret, owners)
        for owner in owners:
            self._keys_of.setdefault(owner, set()).add(key)

    def rows(self, table: str, column: str) -> Mapping[Hashable, Any]:
        """The rows of `table` remembered now, by their `column` (not to be changed: `keep_row` adds to them)."""
        found = self._tables.get((table, column))
        if found is None or not self.active or found[0] <= self.clock():
            return _NONE
        return found[1]

    def row(self, table: str, column: str, key: Hashable) -> Any:
        """The row of `table` remembered whose `column` holds `key`, or MISSING."""
        return self.rows(table, column).get(key, MISSING)

    def keep_row(self, table: str, column: str, key: Hashable, row: Any, generation: int) -> None:
        """Remember a row (whose `column` holds `key`) that a read begun at `generation` found, unless a change
        was heard of since."""
        if not self.active or generation != self.generation or table not in REMEMBERED_TABLES:
            return
        found = self._tables.get((table, column))
        now = self.clock()
        if found is None or found[0] <= now or len(found[1]) >= rows_max:  # lapsed or full: begun again
            found = self._tables[table, column] = (now + self.seconds, {})
        found[1][key] = row

    def forget(self, owners: list[Owner], quiet: bool = False) -> None:
        """Forget every principal read from these rows; `quiet`: and remember none of them for `seconds`
        (a change of this process's own, not yet committed)."""
        self.generation += 1
        if quiet:
            now = self.clock()
            self._quiet_until = {o: t for o, t in self._quiet_until.items() if t > now}  # the lapsed go
            self._quiet_until.update((owner, now + self.seconds) for owner in owners)
        for owner in owners:
            for key in self._keys_of.pop(owner, ()):
                self._drop(key)

    def clear(self) -> None:
        """Forget everything. The quiet marks stay: a logout of this process may not have committed yet."""
        self.generation += 1
        self._entries.clear()
        self._keys_of.clear()
        self._tables.clear()

    def heard(self, payload: str) -> None:
        """A notification: "*" (everything), "r" (a remembered table changed: its rows), or a kind and the ids
        of its changed rows ("s:12")."""
        if payload == "r":
            self.generation += 1
            self._tables.clear()
            return
        kind, _, ids = payload.partition(":")
        try:
            owners = [(kind, int(i)) for i in ids.split(",")] if kind in ("s", "m", "t", "p") and ids else None
        except ValueError:
            owners = None
        if owners is None:
            self.clear()
        else:
            self.forget(owners)

    def _drop(self, key: Hashable) -> None:
        found = self._entries.pop(key, None)
        if found is not None:
            for owner in found[3]:
                keys = self._keys_of.get(owner)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._keys_of[owner]

    def __len__(self) -> int:
        return len(self._entries)


async def listen(
    principals: Principals,
    connect: Callable[[], Awaitable[asyncpg.Connection]],
    connected: asyncio.Event | None = None,
) -> None:
    """Hear the changes of principals until cancelled, reconnecting after a loss; `principals` is active
    only while connected. `connected` is set each time the connection is listening (tests wait on it)."""
    delay = 0.5
    while True:
        try:
            await _listen_once(principals, await connect(), connected)
            delay = 0.5  # it listened, then lost the connection: try again soon
        except asyncio.CancelledError:
            if _cancelled():
                raise
            log.warning("not hearing principals' changes (a statement was cancelled); authenticating every request")
        except Exception as error:  # the database is unreachable or the connection broke: try again later
            log.warning("not hearing principals' changes (%s); authenticating every request", type(error).__name__)
        await asyncio.sleep(delay)
        delay = min(delay * 2, reconnect_seconds_max)


def _cancelled() -> bool:
    """Whether this task itself is being cancelled (the app stops), not merely a statement of the driver's."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


async def _listen_once(principals: Principals, connection: asyncpg.Connection, connected: asyncio.Event | None) -> None:
    lost = asyncio.Event()
    try:
        connection.add_termination_listener(lambda _connection: lost.set())
        await connection.add_listener(CHANNEL, lambda _connection, _pid, _channel, payload: principals.heard(payload))
        principals.clear()  # what changed while nobody listened is unknown
        principals.listening = True
        if connected is not None:
            connected.set()
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), ping_seconds)
            if not lost.is_set():
                await asyncio.wait_for(connection.fetchval("SELECT 1"), ping_seconds)  # a silent loss shows
    finally:
        principals.listening = False
        principals.clear()
        if connected is not None:
            connected.clear()
        connection.terminate()
