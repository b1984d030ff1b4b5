"""What an area registers with the app: its root fields and its DataLoaders.

Each area's `resolvers/<area>/__init__.py` builds one `Area`; `loyalty/areas.py` lists them,
one line each. Nothing else is central: the schema's roots, the loaders of a request and the
error codes are assembled from the areas.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from domain.access import Principal

Reading = Callable[[], contextlib.AbstractAsyncContextManager[AsyncSession]]
Fetch = Callable[[AsyncSession, list[Any]], Awaitable[list[Any]]]


@dataclass(frozen=True)
class Area:
    name: str
    query: type | None = None
    mutation: type | None = None
    # name → how to fetch a batch of keys, for the caller (`principal`) of one request
    loaders: Callable[[Principal], dict[str, Fetch]] | None = None


def loader(reading: Reading, fetch: Fetch) -> DataLoader:
    async def load(keys: list[Any]) -> list[Any]:
        async with reading() as session:
            return await fetch(session, keys)

    return DataLoader(load_fn=load)


class Loaders:
    """One DataLoader per (entity, key) for one request, from every area; `…_scoped` ones apply
    the caller's read rights (node lookups)."""

    def __init__(self, areas: tuple[Area, ...], reading: Reading, principal: Principal) -> None:
        self._reading = reading
        self._fetchers: dict[str, Fetch] = {}
        for area in areas:
            for name, fetch in (area.loaders(principal) if area.loaders else {}).items():
                assert name not in self._fetchers, f"two areas register the loader {name}"
                self._fetchers[name] = fetch

    def __getattr__(self, name: str) -> DataLoader:
        """Made on first use: most requests need few of them."""
        try:
            fetch = self._fetchers[name]
        except KeyError:
            raise AttributeError(name) from None
        made = loader(self._reading, fetch)
        setattr(self, name, made)
        return made
