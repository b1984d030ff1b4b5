"""Who is calling, and what they may do. Deny by default.

Pure rules: no database, no GraphQL. Staff act inside their branch subtree (HQ sees
all); members see only themselves; partner clients see only their partner's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.errors import AccessDenied, ErrorCode
from domain.organisation.tables import StaffRole


@dataclass(frozen=True)
class MemberPrincipal:
    member_id: int
    branch_path: str
    session_id: int


@dataclass(frozen=True)
class StaffPrincipal:
    staff_id: int
    role: StaffRole
    branch_id: int
    branch_path: str
    session_id: int

    def covers(self, branch_path: str) -> bool:
        """True when the branch lies in this staff member's subtree."""
        return branch_path.startswith(self.branch_path)


@dataclass(frozen=True)
class PartnerPrincipal:
    partner_id: int
    client_id: int
    # The branch that maintains the partner (HQ for a national one): where its actions are audited. Unknown
    # (None) reads as headquarters.
    branch_path: str | None = None


Principal = MemberPrincipal | StaffPrincipal | PartnerPrincipal | None


class Permission(StrEnum):
    ORGANISATION_READ = "ORGANISATION_READ"
    CUSTOMER_READ = "CUSTOMER_READ"
    CUSTOMER_WRITE = "CUSTOMER_WRITE"
    CREDIT_LEVEL_SET = "CREDIT_LEVEL_SET"
    MEMBER_READ = "MEMBER_READ"
    MEMBER_WRITE = "MEMBER_WRITE"
    CLUB_WRITE = "CLUB_WRITE"
    PARTNER_MANAGE = "PARTNER_MANAGE"  # the partner registry: partners, their status, each branch's contact
    PARTNER_CLIENT_MANAGE = "PARTNER_CLIENT_MANAGE"
    CARD_READ = "CARD_READ"
    CARD_STOCK = "CARD_STOCK"  # receive, issue, transfer, return, void, set state
    CARD_SERVICE = "CARD_SERVICE"  # a member's card: hand over, loss, unfreeze, replace, cancel, PIN reset
    POINTS_READ = "POINTS_READ"
    POINTS_ADJUST = "POINTS_ADJUST"  # manual bonus or penalty entries
    POINTS_RULES = "POINTS_RULES"  # earning, validity and penalty rules; reversals; runs
    REDEMPTION_READ = "REDEMPTION_READ"  # redemptions, the catalogue, gift stock, fulfilments, bookings
    REDEMPTION_SERVE = "REDEMPTION_SERVE"  # redeem and cancel for a member, book for them, hand over gifts
    REDEMPTION_CATALOGUE = "REDEMPTION_CATALOGUE"  # reward items, gift stock, failed deliveries
    GRADE_REVIEW = "GRADE_REVIEW"  # review proposals, change members' grades, set customers' importance
    AUDIT_READ = "AUDIT_READ"  # the audit trail: who did what, from where, with which outcome
    STAFF_MANAGE = "STAFF_MANAGE"  # staff accounts: display name, role, and whether they may log in at all


_P = Permission
_R = StaffRole
_READ_PEOPLE = {_P.ORGANISATION_READ, _P.CUSTOMER_READ, _P.MEMBER_READ, _P.POINTS_READ, _P.REDEMPTION_READ}
_SERVE = {_P.CARD_READ, _P.CARD_SERVICE, _P.REDEMPTION_SERVE}
ROLE_PERMISSIONS: dict[StaffRole, frozenset[Permission]] = {
    _R.ADMINISTRATOR: frozenset(Permission),
    _R.CLUB_OPERATOR: frozenset(
        _READ_PEOPLE
        | _SERVE
        | {_P.CUSTOMER_WRITE, _P.CREDIT_LEVEL_SET, _P.MEMBER_WRITE, _P.CARD_STOCK}
        | {_P.POINTS_ADJUST, _P.REDEMPTION_CATALOGUE, _P.GRADE_REVIEW}
    ),
    _R.CUSTOMER_MANAGER: frozenset(_READ_PEOPLE | _SERVE | {_P.CUSTOMER_WRITE}),
    _R.AGENT: frozenset(_READ_PEOPLE | _SERVE),
    _R.SETTLEMENT_CLERK: frozenset({_P.ORGANISATION_READ, _P.POINTS_READ, _P.REDEMPTION_READ}),
    _R.AUDITOR: frozenset(_READ_PEOPLE | {_P.CARD_READ, _P.AUDIT_READ}),
}


# What a caller without a principal is told, by what was wrong with the access token they sent (if any): each
# says what to do next.
_NOT_AUTHENTICATED = {
    ErrorCode.UNAUTHENTICATED: "Log in first.",
    ErrorCode.TOKEN_EXPIRED: "The access token has expired: refresh it, or log in again.",
    ErrorCode.TOKEN_REVOKED: "The session has ended: log in again.",
}


def unauthenticated(token_problem: ErrorCode | None = None) -> AccessDenied:
    """The refusal of a caller who is not logged in; `token_problem` is why the token they sent was refused."""
    code = token_problem if token_problem in _NOT_AUTHENTICATED else ErrorCode.UNAUTHENTICATED
    return AccessDenied(code, _NOT_AUTHENTICATED[code])


def require_authenticated(principal: Principal) -> None:
    if principal is None:
        raise unauthenticated()


def require_staff(principal: Principal, permission: Permission) -> StaffPrincipal:
    """The staff principal when its role grants the permission; refuse everyone else."""
    require_authenticated(principal)
    if role_grants(principal, permission):
        return principal
    raise AccessDenied(ErrorCode.FORBIDDEN, "Your role may not do this.")


def require_member(principal: Principal) -> MemberPrincipal:
    require_authenticated(principal)
    if isinstance(principal, MemberPrincipal):
        return principal
    raise AccessDenied(ErrorCode.FORBIDDEN, "Only a member may do this.")


def require_person(principal: Principal) -> MemberPrincipal | StaffPrincipal:
    """A member or staff user: the callers who log in and hold a session (partner keys hold none)."""
    require_authenticated(principal)
    if isinstance(principal, MemberPrincipal | StaffPrincipal):
        return principal
    raise AccessDenied(ErrorCode.FORBIDDEN, "Partner keys have no session.")


def may_read_member(principal: Principal, member_id: int, branch_path: str) -> bool:
    if isinstance(principal, MemberPrincipal):
        return principal.member_id == member_id
    return _staff_may(principal, Permission.MEMBER_READ, branch_path)


def may_read_branch_scoped(principal: Principal, permission: Permission, branch_path: str) -> bool:
    return _staff_may(principal, permission, branch_path)


def role_grants(principal: Principal, permission: Permission) -> bool:
    return isinstance(principal, StaffPrincipal) and permission in ROLE_PERMISSIONS[principal.role]


def _staff_may(principal: Principal, permission: Permission, branch_path: str) -> bool:
    return role_grants(principal, permission) and principal.covers(branch_path)
