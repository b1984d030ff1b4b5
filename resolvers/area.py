"""What an area registers with the app: its root fields and its loaders.

Each area's `resolvers/<area>/__init__.py` builds one `Area`; `loyalty/areas.py` lists them,
one line each. Nothing else is central: the schema's roots, the loaders of a request and the
error codes are assembled from the areas.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from domain.access import Principal
from domain.auth.principals import REMEMBERED_TABLES, Principals
from domain.loading import MISSING, Loader
from domain.paging import BatchRead

Reading = Any  # the request's `ReadSession`: its session, or its turn to read (`resolvers/context.py`)
# How to read a batch of keys: on the request's read session, or a `BatchRead` straight to the driver.
Fetch = Callable[[AsyncSession, list[Any]], Awaitable[list[Any]]] | BatchRead


@dataclass(frozen=True)
class Area:
    name: str
    query: type | None = None
    mutation: type | None = None
    # name → how to fetch a batch of keys, for the caller (`principal`) of one request
    loaders: Callable[[Principal], dict[str, Fetch]] | None = None


def loader(reading: Reading, engine: AsyncEngine, fetch: Fetch, remembered: Principals | None = None) -> Loader:
    if isinstance(fetch, BatchRead):
        table = fetch.table.__tablename__
        if remembered is not None and not fetch.grouped and table in REMEMBERED_TABLES:
            made = Loader(functools.partial(_remembered, reading, engine, fetch, remembered, table))
            made.known.update(
                remembered.rows(table, fetch.key)
            )  # known at once: a page's walk fills them in as it goes
            return made

        async def read(keys: list[Any]) -> list[Any]:
            async with reading.turn():
                return await fetch(engine, keys)

        return Loader(read)

    async def load(keys: list[Any]) -> list[Any]:
        async with reading() as session:
            return await fetch(session, keys)

    return Loader(load)


async def _remembered(
    reading: Reading, engine: AsyncEngine, fetch: BatchRead, remembered: Principals, table: str, keys: list[Any]
) -> list[Any]:
    """The rows of a small table that changes seldom: those the process remembers (while it hears of every
    change of the table, `domain/auth/principals.py`), the others read and then remembered."""
    found = [remembered.row(table, fetch.key, key) for key in keys]
    missing = [key for key, row in zip(keys, found, strict=True) if row is MISSING]
    if not missing:
        return found
    generation = remembered.generation
    async with reading.turn():
        read = dict(zip(missing, await fetch(engine, missing), strict=True))
    for key, row in read.items():
        if row is not None:
            remembered.keep_row(table, fetch.key, key, row, generation)
    return [read[key] if row is MISSING else row for key, row in zip(keys, found, strict=True)]


class Loaders:
    """One loader per (entity, key) for one request, from every area; `…_scoped` ones apply
    the caller's read rights (node lookups)."""

    def __init__(
        self,
        areas: tuple[Area, ...],
        reading: Reading,
        engine: AsyncEngine,
        principal: Principal,
        remembered: Principals | None = None,
    ) -> None:
        self._areas, self._reading, self._engine, self._principal = areas, reading, engine, principal
        self._remembered = remembered  # the process's principals, which also remember rows of small tables

    def __getattr__(self, name: str) -> Loader:
        """Made on first use: most requests need few of them."""
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            fetch = fetchers(self._areas, self._principal)[name]
        except KeyError:
            raise AttributeError(name) from None
        made = loader(self._reading, self._engine, fetch, self._remembered)
        setattr(self, name, made)
        return made


@functools.lru_cache(maxsize=4_096)
def fetchers(areas: tuple[Area, ...], principal: Principal) -> dict[str, Fetch]:
    """Every area's fetch functions for `principal`, by loader name: made once per caller and process (the
    principals in use, remembered between their requests), not once per request."""
    found: dict[str, Fetch] = {}
    for area in areas:
        for key, fetch in (area.loaders(principal) if area.loaders else {}).items():
            assert key not in found, f"two areas register the loader {key}"
            found[key] = fetch
    return found
