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
        self._areas, self._reading, self._principal = areas, reading, principal
        self._fetchers: dict[str, Fetch] | None = None  # asked of the areas on first use: many requests need none

    def __getattr__(self, name: str) -> DataLoader:
        """Made on first use: most requests need few of them."""
        if name.startswith("_"):
            raise AttributeError(name)
        if self._fetchers is None:
            self._fetchers = {}
            for area in self._areas:
                for key, fetch in (area.loaders(self._principal) if area.loaders else {}).items():
                    assert key not in self._fetchers, f"two areas register the loader {key}"
                    self._fetchers[key] = fetch
        try:
            fetch = self._fetchers[name]
        except KeyError:
            raise AttributeError(name) from None
        made = loader(self._reading, fetch)
        setattr(self, name, made)
        return made
