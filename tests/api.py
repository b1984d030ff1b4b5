"""A small GraphQL client for tests, with the demo principals and a database fingerprint."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable
from typing import Any, TypeVar

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty.demo import DEMO_PASSWORD, Demo

T = TypeVar("T")

# Who may be calling, for authorization matrices. Values are (kind, login) or a special word.
PRINCIPALS = {
    "anonymous": None,
    "member": ("MEMBER", "Li Wei"),  # GD
    "other_member": ("MEMBER", "Zhang Min"),  # BJ
    "hq_admin": ("STAFF", "admin"),
    "administrator": ("STAFF", "gd.admin"),
    "club_operator": ("STAFF", "gd.operator"),
    "customer_manager": ("STAFF", "gd.manager"),
    "agent": ("STAFF", "gd.agent"),
    "settlement_clerk": ("STAFF", "gd.clerk"),
    "auditor": ("STAFF", "gd.auditor"),
    "other_branch_operator": ("STAFF", "bj.operator"),
    "other_branch_admin": ("STAFF", "bj.admin"),
    "partner": "partner",
}
# Tables written by authentication itself, not by the operations under test, and the audit trail, which
# records refusals too (tests/graphql/test_audit.py checks what it holds).
AUTH_TABLES = {"auth_session", "login_attempt", "alembic_version", "audit_event"}


def gid(type_name: str, key: int) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


# Every credential the run sent or was given: none may appear in the log (tests/test_log_secrets.py).
issued_tokens: set[str] = set()


class Api:
    def __init__(self, client: httpx.AsyncClient, engine: AsyncEngine, demo: Demo) -> None:
        self.client = client
        self.engine = engine
        self.demo = demo
        self._tokens: dict[str, str] = {}

    async def post(self, body: Any, token: str | None = None) -> httpx.Response:
        if token:
            issued_tokens.add(token)
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return await self.client.post("/graphql", json=body, headers=headers)

    async def gql(self, query: str, variables: dict[str, Any] | None = None, *, as_: str | None = None) -> dict:
        """The JSON answer to a query, run as the named demo principal (see PRINCIPALS)."""
        token = await self.token(as_) if as_ else None
        response = await self.post({"query": query, "variables": variables or {}}, token)
        assert response.status_code == 200, response.text
        return response.json()

    async def data(self, query: str, variables: dict[str, Any] | None = None, *, as_: str | None = None) -> dict:
        """The data of a query that must succeed without top-level errors."""
        answer = await self.gql(query, variables, as_=as_)
        assert "errors" not in answer, answer["errors"]
        return answer["data"]

    async def token(self, who: str) -> str | None:
        if who == "anonymous":
            return None
        if who not in self._tokens:
            self._tokens[who] = await self._credential(who)
        return self._tokens[who]

    async def _credential(self, who: str) -> str:
        if who == "partner":
            return await self.partner_key("SKY-MILES")
        kind, login = PRINCIPALS[who]
        if kind == "MEMBER":
            login = self.demo.member_numbers[login]
        tokens = await self.login(kind, login)
        return tokens["accessToken"]

    async def login(self, kind: str, login: str, password: str = DEMO_PASSWORD) -> dict:
        answer = await self.gql(
            """mutation($input: LoginInput!) { login(input: $input) {
                errors { field code message }
                tokens { accessToken refreshToken accessTokenExpiresAt refreshTokenExpiresAt kind } } }""",
            {"input": {"kind": kind, "login": login, "password": password}},
        )
        payload = answer["data"]["login"]
        if payload["tokens"]:
            issued_tokens.update((payload["tokens"]["accessToken"], payload["tokens"]["refreshToken"]))
        return payload["tokens"] if payload["tokens"] else {"errors": payload["errors"]}

    async def add_staff(self, username: str, role: str, branch: str) -> int:
        """A staff member beside the demo's, logged in (`as_=username`): their id."""
        from domain.organisation import service as organisation
        from loyalty.database import make_sessions

        async with make_sessions(self.engine).begin() as session:
            staff = await organisation.create_staff(session, username=username, display_name=username, role=role,
                                                    branch_code=branch, password=DEMO_PASSWORD)  # fmt: skip
            staff_id = staff.id
        self._tokens[username] = (await self.login("STAFF", username))["accessToken"]
        return staff_id

    async def partner_key(self, partner_code: str) -> str:
        answer = await self.data(
            """mutation($input: CreatePartnerApiClientInput!) { createPartnerApiClient(input: $input) {
                errors { code } credential } }""",
            {"input": {"partnerId": gid("Partner", self.demo.partners[partner_code]), "name": "test key"}},
            as_="hq_admin",
        )
        return answer["createPartnerApiClient"]["credential"]

    def demo_partner_id(self, code: str) -> str:
        return gid("Partner", self.demo.partners[code])

    async def fingerprint(self) -> dict[str, str]:
        """A digest of every business table's rows: equal before and after means nothing was written."""
        async with self.engine.connect() as connection:
            names = await connection.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
            digests = {}
            for (name,) in names:
                if name in AUTH_TABLES:
                    continue
                digest = await connection.scalar(
                    sa.text(f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {name} t")
                )
                digests[name] = digest
            return digests

    async def violations(self) -> list:
        """What `loyalty verify` finds wrong with the ledger: nothing, after any scenario."""
        from domain.points import ledger
        from loyalty.database import make_sessions

        async with make_sessions(self.engine)() as session:
            return await ledger.verify(session)

    async def scalar(self, sql: str, **params: Any) -> Any:
        """Run SQL in its own committed transaction; the first column of the first row."""
        async with self.engine.begin() as connection:
            return await connection.scalar(sa.text(sql), params)

    async def waits_for(self, sql: str, meanwhile: Awaitable[T], **params: Any) -> T:
        """`meanwhile` started while another transaction has run `sql`, not yet committed: it waits for that
        transaction, and what it answers once the transaction is committed."""
        async with self.engine.connect() as holding:
            await holding.execute(sa.text(sql), params)
            started = asyncio.ensure_future(meanwhile)
            await asyncio.sleep(0.5)
            assert not started.done()
            await holding.commit()
        return await started


def errors_of(answer: dict, field: str) -> list[dict]:
    """`payload.errors` of the mutation `field`."""
    return answer["data"][field]["errors"]


def top_codes(answer: dict) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in answer.get("errors", [])]
