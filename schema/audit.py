"""The audit trail as GraphQL types (roots are database rows)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

import strawberry
from strawberry import relay

from domain.audit import tables as audit_tables
from domain.audit.tables import targets_max
from schema.common import PrincipalKind, joined, listed, node_keys, row_type
from schema.organisation import BranchType


def _global_id(typed_id: str) -> relay.GlobalID:
    """A typed id of the trail (`Member:12`) as the global ID clients use for the object."""
    type_name, _, key = typed_id.partition(":")
    return relay.GlobalID(type_name, key)


@strawberry.type(
    name="AuditEvent",
    description="One mutation of a member, member of staff or partner key, or one command of an operator at the"
    " host's command line (`create-staff`): who, from where, when, what, to which objects, and how it ended. Never"
    " changed or removed.",
)
class AuditEventType(relay.Node):
    id: relay.NodeID[int]
    occurred_at: datetime
    request_id: str | None = strawberry.field(
        description="The request's `X-Request-ID` (the response header): its log lines carry the same id."
    )
    principal_kind: PrincipalKind
    client_address: str | None = strawberry.field(
        description="The address the request came from; an operator's `user@host`."
    )
    operation: str = strawberry.field(
        description="The mutation's name, `adjustPoints`, or the operator's command's, `create-staff`."
    )
    outcome: str = strawberry.field(
        description="OK; REPLAYED (an idempotency key's stored answer, nothing done again); or the error code that"
        " refused it (a payload's or a top-level error's: `INSUFFICIENT_POINTS`, `FORBIDDEN`), INTERNAL for a fault."
    )
    is_type_of = row_type(audit_tables.AuditEvent)

    @strawberry.field(
        description="The caller: a Staff, Member or Partner ID; for an OPERATOR, `Operator:<uid>` of the host's user"
        " (no object)."
    )
    def principal_id(self) -> relay.GlobalID:
        return relay.GlobalID(self.principal_kind.value.title(), str(self.principal_id))

    @strawberry.field(description="The partner's key the call came with (a PartnerApiClient ID); null for others.")
    def api_client_id(self) -> relay.GlobalID | None:
        return relay.GlobalID("PartnerApiClient", str(self.api_client_id)) if self.api_client_id else None

    @strawberry.field(
        description="The branch the caller acted for: the staff member's, the member's home branch, the partner's;"
        " headquarters for a national partner's."
    )
    @joined("branches_by_path", "branch_path")
    def branch(self, info: strawberry.Info) -> BranchType | None: ...

    @strawberry.field(
        description="The objects the mutation's input named (members, cards, transactions …), as IDs; at most 20.",
        metadata=listed(targets_max),
    )
    def targets(self) -> list[relay.GlobalID]:
        return [_global_id(target) for target in self.targets]

    @strawberry.field(
        description="The object the mutation answered with (for one that creates, the object it made), when named"
        " by an ID of its own; null for a refusal."
    )
    def result_id(self) -> relay.GlobalID | None:
        return _global_id(self.result_id) if self.result_id else None

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.audit_events_scoped.load_many(node_keys(node_ids))


@strawberry.input(description="Every field given must hold; `from` and `to` are inclusive days (UTC).")
class AuditEventFilter:
    occurred_from: date | None = strawberry.field(default=None, name="from")
    occurred_to: date | None = strawberry.field(default=None, name="to")
    principal_kind: PrincipalKind | None = None
    principal_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="A Staff, Member or Partner ID: what that caller did; a PartnerApiClient ID: what was done with"
        " that key.",
    )
    operation: str | None = strawberry.field(default=None, description="A mutation's name: `adjustPoints`.")
    outcome: str | None = strawberry.field(default=None, description="OK, REPLAYED or an error code.")
    request_id: str | None = None
    target: relay.GlobalID | None = strawberry.field(
        default=None, description="Any object's ID: the events whose input named it, or that answered with it."
    )
