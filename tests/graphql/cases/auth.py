"""The auth mutations for the authorization matrix and the bad-input suite."""

from __future__ import annotations

from tests.graphql.cases import PEOPLE, Case, make

CASES = {
    "changePassword": Case(
        "changePassword",
        "ChangePasswordInput",
        make(lambda i, who: {"currentPassword": "demo-password", "newPassword": "a-new-password"}),
        PEOPLE,
    ),
    "logout": Case("logout", None, make(lambda i, who: {}), PEOPLE),
}
