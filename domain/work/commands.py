"""Commands: what a caller asks the domain to do, as one frozen dataclass with Python names.

Each mutation's domain entry is `async def handler(uow, command) -> result`. The edge builds
the command from the client's input in one generic place and decides which global ID type a
field takes from its annotation: a field typed `MemberId` takes a Member's ID (the name
without `Id`), so no table of field names is kept anywhere.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar, NewType, get_type_hints

from domain.access import Principal, require_authenticated, require_person

BranchId = NewType("BranchId", int)
ClubId = NewType("ClubId", int)
StaffId = NewType("StaffId", int)
CustomerId = NewType("CustomerId", int)
AccountId = NewType("AccountId", int)
MemberId = NewType("MemberId", int)
PartnerId = NewType("PartnerId", int)
PartnerApiClientId = NewType("PartnerApiClientId", int)
PartnerContactId = NewType("PartnerContactId", int)
CardApplicationId = NewType("CardApplicationId", int)
PointsTransactionId = NewType("PointsTransactionId", int)
PointsRuleId = NewType("PointsRuleId", int)
OutletId = NewType("OutletId", int)
RewardItemId = NewType("RewardItemId", int)
ConsumptionRuleId = NewType("ConsumptionRuleId", int)
RedemptionId = NewType("RedemptionId", int)
FulfilmentId = NewType("FulfilmentId", int)
GiftPickupId = NewType("GiftPickupId", int)
AutoRedemptionId = NewType("AutoRedemptionId", int)
GradeRuleId = NewType("GradeRuleId", int)
GradeProposalId = NewType("GradeProposalId", int)
# The global ID of a node of any type, as its typed id `Member:12` (what the audit trail names targets by).
AnyNodeId = NewType("AnyNodeId", str)


@functools.cache
def hints_of(declared: Any) -> dict[str, Any]:
    """The annotations of a command, handler or list function, resolved once per process (resolving
    them costs more than the rest of a request's input handling)."""
    return get_type_hints(declared)


def node_type_of(annotation: Any) -> str | None:
    """The entity a global ID field names (`MemberId` → "Member"); None for other types."""
    name = getattr(annotation, "__name__", "")
    if getattr(annotation, "__supertype__", None) is int and name.endswith("Id"):
        return name.removesuffix("Id")
    return None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Command:
    """A request to change state. Subclasses are frozen dataclasses with plain Python types."""

    @classmethod
    def admit(cls, principal: Principal) -> None:
        """Who may send a command of this kind at all, asked before its input is read: a member or staff who
        logged in; partner keys send none until the partner integration. A caller who may not is refused as
        such whatever the input, and recorded so; `authorize` and the handler check the rest (role, scope)."""
        require_person(principal)

    def hashes(self) -> bool:
        """Whether carrying it out checks or sets a secret (a PIN, a password). Such a command waits for one of
        the process's hashing turns (`domain.passwords.turn`) before its first statement: a burst of them (or of
        them waiting for the row one of them holds while it hashes) never takes the connections every other
        request needs."""
        return False

    def queue(self) -> str | None:
        """What such a command's requests wait for each other by before they take a turn (`card:<number>`), when
        they would wait for one row anyway: a burst against one card holds one turn, not all of them."""
        return None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Idempotent(Command):
    """A command that moves points or stock: the same key and request take effect once.

    The unit of work claims the key before the handler runs; its scope is the command's type
    and the caller, so two callers never share a key.
    """

    idempotency_key: str | None = None
    key_required: ClassVar[bool] = True
    # Fields left out of what makes two requests the same: secrets (a PIN, a password) never reach
    # the stored digest, from which a short secret could be guessed back.
    unrecorded: ClassVar[frozenset[str]] = frozenset()
    _scopes: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **options: Any) -> None:
        """The scope of a key is the command's name: two idempotent commands never share one."""
        super().__init_subclass__(**options)
        where = f"{cls.__module__}.{cls.__qualname__}"
        assert Idempotent._scopes.setdefault(cls.__name__, where) == where, f"two commands named {cls.__name__}"

    def authorize(self, principal: Principal) -> None:
        """Who may send the command at all, checked before its key is looked up (so a replay is
        refused like a first try); the handler checks the rest (scope, state)."""
        require_authenticated(principal)

    def request(self) -> dict[str, Any]:
        """What makes two requests the same: every field but the key and the unrecorded ones."""
        left_out = {"idempotency_key", *self.unrecorded}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in left_out}


class _Unchanged:
    """The value of an update command's field the caller left out: keep what is stored."""

    _instance: _Unchanged | None = None

    def __new__(cls) -> _Unchanged:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Any = _Unchanged()


def changes(command: Command, *names: str) -> dict[str, Any]:
    """The fields an update command sets (all of `names`, or every field), left-out ones omitted."""
    wanted = names or tuple(f.name for f in dataclasses.fields(command))
    return {name: getattr(command, name) for name in wanted if getattr(command, name) is not UNCHANGED}
