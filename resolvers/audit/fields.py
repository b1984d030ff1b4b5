"""The audit trail's root field."""

from __future__ import annotations

import strawberry

from domain.audit import queries
from resolvers.declare import list_field
from schema.audit import AuditEventFilter, AuditEventType


@strawberry.type
class AuditQuery:
    audit_events = list_field(
        queries.list_events,
        AuditEventType,
        AuditEventFilter,
        description="What members, staff and partner keys did, newest first: every mutation with its caller, address,"
        " request, targets and outcome, in your subtree (auditors and administrators).",
    )
