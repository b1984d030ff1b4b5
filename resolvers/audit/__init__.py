"""The audit trail: its events, for auditors and administrators."""

from __future__ import annotations

from resolvers.area import Area
from resolvers.audit.fields import AuditQuery
from resolvers.audit.loaders import loaders

area = Area("audit", query=AuditQuery, loaders=loaders)
