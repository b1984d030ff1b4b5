"""Every mutation, with a valid request against demo data in Guangdong (GD), and who may run it.

Each area keeps its cases in a module of this package (`cases/<area>.py`, a `CASES` dict); they
are found by walking the package, so a new area adds a file and edits nothing here.
"""

from __future__ import annotations

import importlib
import pkgutil
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tests.api import Api, gid

PAYLOAD_FIELDS = "errors { field code message }"


@dataclass
class Case:
    mutation: str
    input_type: str | None
    make_input: Callable[[Api, str], Awaitable[dict[str, Any] | None]]
    allowed: set[str]
    # Principals whose role may do it but whose branch does not hold the target: NOT_FOUND.
    out_of_scope: set[str] = field(default_factory=set)
    # Principals who may call it but, given the demo data, get this payload error instead.
    special: dict[str, str] = field(default_factory=dict)

    def query(self) -> str:
        if self.input_type is None:
            return f"mutation {{ {self.mutation} {{ {PAYLOAD_FIELDS} }} }}"
        return f"mutation($input: {self.input_type}!) {{ {self.mutation}(input: $input) {{ {PAYLOAD_FIELDS} }} }}"


def unique(who: str) -> str:
    """Digits that differ per principal, so that every allowed caller's request is new."""
    return f"{zlib.crc32(who.encode()) % 10**8:08d}"


def ids(api: Api) -> dict[str, str]:
    d = api.demo
    return {
        "GD": gid("Branch", d.branches["GD"]),
        "GD_CLUB": gid("Club", d.clubs["GD-CLUB"]),
        "LI_WEI_CUSTOMER": gid("Customer", d.customers["Li Wei"]),
        "LI_WEI_MEMBER": gid("Member", d.members["Li Wei"]),
        "PROSPECT": gid("Customer", d.customers["Pearl River Trading Co."]),
        "GD_MALL": gid("Partner", d.partners["GD-MALL"]),
    }


def make(build: Callable[[dict[str, str], str], dict[str, Any]]):
    async def make(api: Api, who: str) -> dict[str, Any]:
        return build(ids(api), who)

    return make


ADMINS = {"hq_admin", "administrator"}
MEMBER_WRITERS = ADMINS | {"club_operator"}
CUSTOMER_WRITERS = MEMBER_WRITERS | {"customer_manager"}
PEOPLE = {
    "member",
    "other_member",
    "hq_admin",
    "administrator",
    "club_operator",
    "customer_manager",
    "agent",
    "settlement_clerk",
    "auditor",
    "other_branch_operator",
    "other_branch_admin",
}
OTHER_BRANCH = {"other_branch_operator", "other_branch_admin"}


def _every_case() -> dict[str, Case]:
    found: dict[str, Case] = {}
    for module in pkgutil.iter_modules(__path__, __name__ + "."):
        cases = importlib.import_module(module.name).CASES
        assert not found.keys() & cases.keys(), f"{module.name} repeats a mutation"
        found |= cases
    return found


CASES = _every_case()
