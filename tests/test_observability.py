"""What an operator sees of the service: request ids, log lines, metrics and traces."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from loyalty.app import create_app
from tests.api import Api, gid

ME = "query Me { me { ... on Member { id } } }"
ADJUST = """mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) {
    errors { code } transaction { id } } }"""


def request_lines(logged) -> list[dict]:
    return [line for line in logged() if line["logger"] == "loyalty.access"]


def adjustment(api: Api, points: int, key: str) -> dict:
    member = gid("Member", api.demo.members["Li Wei"])
    return {"input": {"memberId": member, "points": points, "reason": "goodwill", "idempotencyKey": key}}


@pytest.fixture
async def behind_proxy(app_settings_for, engine) -> AsyncIterator[httpx.AsyncClient]:
    """The app behind a trusted proxy at 10.0.0.2, whose requests come from there."""
    app = create_app(app_settings_for(trusted_proxies=["10.0.0.2"]), str(engine.url), engine=engine)
    transport = httpx.ASGITransport(app=app, client=("10.0.0.2", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
def app_settings_for(settings):
    return lambda **changes: settings.model_copy(update=changes)


# Request ids


async def test_every_response_carries_a_request_id_of_the_services_own(api: Api):
    # when a client sends two requests, one with an id of its own
    first = await api.client.post("/graphql", json={"query": "{ __typename }"})
    second = await api.client.post("/graphql", json={"query": "{ __typename }"}, headers={"x-request-id": "mine"})
    # then each answer names a fresh id: an untrusted client's id is not believed
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(re.fullmatch("[0-9a-f]{32}", i) for i in ids) and ids[0] != ids[1]


async def test_a_trusted_proxys_request_id_and_client_are_believed(demo, behind_proxy, logged):
    # when the trusted proxy hands on a request with its id, from a client it names
    headers = {"x-request-id": "proxy-id-123", "x-forwarded-for": "203.0.113.9, 10.0.0.2"}
    answer = await behind_proxy.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
    bad = await behind_proxy.post("/graphql", json={"query": "{ __typename }"}, headers={"x-request-id": "a b"})
    # then the answer carries the proxy's id, and the log names the client the proxy named
    assert answer.headers["x-request-id"] == "proxy-id-123"
    [line, _] = request_lines(logged)
    assert (line["request_id"], line["client"]) == ("proxy-id-123", "203.0.113.9")
    # and an id that is no id (spaces, too long) is replaced by one of the service's own
    assert re.fullmatch("[0-9a-f]{32}", bad.headers["x-request-id"])


async def test_a_forwarded_for_header_on_several_lines_is_read_as_one_list(demo, behind_proxy, logged):
    # when the trusted proxy hands on a request whose X-Forwarded-For came on two lines (a proxy before it added one)
    headers = [("x-forwarded-for", "203.0.113.9"), ("x-forwarded-for", "10.0.0.2")]
    await behind_proxy.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
    # then the client is the last address of both lines that is no proxy's, not the proxy
    [line] = request_lines(logged)
    assert line["client"] == "203.0.113.9"


# Log lines


def test_uvicorns_access_lines_are_never_written(logged):
    # given the logs configured as every process configures them (a worker too, after uvicorn's own set-up)
    # when uvicorn's access logger is told of a request with a password in its query string
    sent = '/graphql?query=mutation{login(password:"s3cret")}'
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1", "GET", sent, "1.1", 405)
    # then nothing of it is written: the service's own line is the request's one line
    assert [line for line in logged() if line["logger"] == "uvicorn.access"] == []


async def test_each_request_is_one_line_with_its_id_caller_operation_outcome_and_duration(api: Api, logged):
    # given a logged-in operator and member
    token = await api.token("club_operator")
    await api.token("member")
    start = len(logged())
    # when they adjust points, and a member asks for their own record
    adjusted = await api.client.post(
        "/graphql",
        json={"query": ADJUST, "variables": adjustment(api, 10, "log-1")},
        headers={"authorization": f"Bearer {token}"},
    )
    await api.gql(ME, as_="member")
    # then one line per request says who did what, how it ended and how long it took
    lines = request_lines(lambda: logged()[start:])
    assert len(lines) == 2
    mutation = next(line for line in lines if line.get("operation") == "mutation adjustPoints")
    assert mutation["request_id"] == adjusted.headers["x-request-id"]
    assert (mutation["principal_kind"], mutation["principal_id"]) == ("STAFF", api.demo.staff["gd.operator"])
    assert (mutation["outcome"], mutation["status"], mutation["level"]) == ("ok", 200, "info")
    assert mutation["duration_ms"] > 0
    me = next(line for line in lines if line.get("operation") == "query me")
    assert (me["principal_kind"], me["operation_name"]) == ("MEMBER", "Me")


async def test_a_refusal_is_one_line_at_info_with_its_code_and_no_traceback(api: Api, logged):
    # when a login is refused, and a mutation refused in its payload
    await api.login("STAFF", "admin", "wrong-password")
    await api.gql(ADJUST, adjustment(api, 0, "log-2"), as_="club_operator")
    # then each request's line says refused, with the code; nothing at WARNING or above, no traceback
    refused = [line for line in request_lines(logged) if line["outcome"] == "refused"]
    assert [line["operation"] for line in refused] == ["mutation login", "mutation adjustPoints"]
    assert all(line["codes"] for line in refused)
    assert not [line for line in logged() if line["level"] not in ("info", "debug") or "exception" in line]


# Metrics


def scrape(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a metrics page, by (name, labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_count_requests_refusals_points_and_logins(api: Api):
    # given the metrics as they stand
    before = scrape((await api.client.get("/metrics")).text)
    # when a member reads their record, an operator adjusts points twice (the second a replay) and is
    # refused once, and a login fails
    await api.gql(ME, as_="member")
    for key in ("metrics-1", "metrics-1"):
        await api.data(ADJUST, adjustment(api, 25, key), as_="club_operator")
    await api.gql(ADJUST, adjustment(api, 0, "metrics-2"), as_="club_operator")
    await api.login("STAFF", "admin", "wrong-password")
    await api.gql("{ nope }")
    after = scrape((await api.client.get("/metrics")).text)

    # then each moved by what happened
    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    latency = "loyalty_request_duration_seconds_count"
    assert moved(latency, operation="query me", outcome="ok") == 1
    assert moved(latency, operation="mutation adjustPoints", outcome="ok") == 2
    assert moved(latency, operation="mutation adjustPoints", outcome="refused") == 1
    assert moved("loyalty_points_moved_total", entry_type="ADJUSTMENT") == 25  # the replay moved nothing
    assert moved("loyalty_refusals_total", operation="adjustPoints", code="OUT_OF_RANGE") == 1
    assert moved("loyalty_login_failures_total", reason="INVALID_CREDENTIALS") == 1
    assert moved("loyalty_graphql_errors_total", code="GRAPHQL_VALIDATION_FAILED") == 1
    assert sample(after, "loyalty_db_pool_capacity") > 0


async def test_a_refused_credential_is_counted_and_named_on_the_requests_line(api: Api, logged):
    # given the metrics as they stand, and a partner key revoked
    key = await api.partner_key("GD-MALL")
    await api.scalar("UPDATE partner_api_client SET revoked_at = now() RETURNING 1")
    before = scrape((await api.client.get("/metrics")).text)
    # when the grades, which anyone may read, are asked for with the revoked key, a forged token, two
    # credentials, and a word that is no credential
    sent = [[("authorization", f"Bearer {key}")], [("authorization", "Bearer e30.e30.forged")],
            [("authorization", f"Bearer {await api.token('member')}"), ("authorization", "Bearer junk")],
            [("authorization", "Basic YTpi")]]  # fmt: skip
    for headers in sent:
        answer = await api.client.post("/graphql", json={"query": "{ grades { code } me { id } }"}, headers=headers)
        assert [e["extensions"]["code"] for e in answer.json()["errors"]] == ["UNAUTHENTICATED"]  # anonymous
    after = scrape((await api.client.get("/metrics")).text)
    # then each is counted by its kind, and the request's line says why it was refused
    counted = "loyalty_credentials_refused_total"
    assert [sample(after, counted, kind=kind, reason="UNAUTHENTICATED") - sample(before, counted, kind=kind,
            reason="UNAUTHENTICATED") for kind in ("partner_key", "token", "malformed")] == [1, 1, 2]  # fmt: skip
    lines = [line for line in request_lines(logged) if line["path"] == "/graphql"][-4:]
    assert [line.get("credential_refused") for line in lines] == ["UNAUTHENTICATED"] * 4
    # and an empty header is no credential, not a refused one
    await api.client.post("/graphql", json={"query": "{ grades { code } }"}, headers={"authorization": " "})
    assert "credential_refused" not in request_lines(logged)[-1]


async def test_runs_left_interrupted_are_counted_from_the_database_whichever_process_stopped(api: Api):
    # given a month's run interrupted and never started again, another interrupted then resumed, and a review
    # recorded RUNNING by a process that died (nobody holds its lock)
    await api.scalar("""INSERT INTO job_run (kind, subject, status) VALUES
                        ('MONTHLY_ACCRUAL', '2026-09', 'INTERRUPTED'), ('MONTHLY_ACCRUAL', '2026-10', 'INTERRUPTED'),
                        ('MONTHLY_ACCRUAL', '2026-10', 'DONE'), ('GRADE_REVIEW', '2026-12-01', 'RUNNING')
                        RETURNING 1""")  # fmt: skip
    # when the metrics are read, then the runs nothing carries on are counted by kind
    samples = scrape((await api.client.get("/metrics")).text)
    assert sample(samples, "loyalty_job_runs_left_interrupted", kind="MONTHLY_ACCRUAL") == 1
    assert sample(samples, "loyalty_job_runs_left_interrupted", kind="GRADE_REVIEW") == 1


async def test_the_metrics_are_refused_to_other_addresses_without_the_token(app_settings_for, engine, demo):
    # given the service with a metrics token, and a client from an address not among its readers
    app = create_app(app_settings_for(metrics_token="scrape-token"), str(engine.url), engine=engine)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        # when it asks without the token, with a wrong one, and with the right one
        statuses = [
            (await client.get("/metrics", headers=headers)).status_code
            for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Bearer scrape-token"})
        ]
    # then only the token opens them; the others learn nothing is there
    assert statuses == [404, 404, 200]


async def test_a_request_an_untrusted_proxy_hands_on_is_no_reader_by_its_address(api: Api):
    # given a proxy on the service's own host, not named as trusted, handing on a client's request
    headers = {"x-forwarded-for": "198.51.100.7"}
    # when the client asks for the metrics through it, then they are not there; asked directly, they are
    assert (await api.client.get("/metrics", headers=headers)).status_code == 404
    assert (await api.client.get("/metrics")).status_code == 200


@pytest.fixture
async def failing_writes(engine):
    """The database failing every write of a customer or a ledger transaction, as a deadlock would."""
    fail = """CREATE FUNCTION fail_for_test() RETURNS trigger LANGUAGE plpgsql AS
              $$ BEGIN RAISE EXCEPTION 'could not serialize' USING ERRCODE = '40001'; END $$"""
    async with engine.begin() as connection:
        await connection.execute(sa.text(fail))
        for table in ("customer", "ledger_transaction"):
            await connection.execute(
                sa.text(f"CREATE TRIGGER fail_for_test BEFORE INSERT ON {table} EXECUTE FUNCTION fail_for_test()")
            )
    yield
    async with engine.begin() as connection:
        await connection.execute(sa.text("DROP FUNCTION fail_for_test() CASCADE"))


async def test_a_failed_statement_is_logged_without_its_values(api: Api, failing_writes, logged):
    # when a customer is created and points adjusted while the database refuses both writes
    customer = {"branchId": gid("Branch", api.demo.branches["GD"]), "kind": "INDIVIDUAL", "name": "Chen Jing",
                "idDocumentType": "ID_CARD", "idDocumentNumber": "440301199901010099",
                "phone": "13711112222"}  # fmt: skip
    create = "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { errors { code } } }"
    answers = [
        await api.gql(create, {"input": customer}, as_="club_operator"),
        await api.gql(ADJUST, adjustment(api, 7, "reason-key-13722223333"), as_="club_operator"),
    ]
    # then both are internal errors, logged with their statements but none of the values sent
    assert [a["errors"][0]["extensions"]["code"] for a in answers] == ["INTERNAL", "INTERNAL"]
    text = json.dumps(logged())
    assert "could not serialize" in text
    assert not [value for value in ("440301199901010099", "13711112222", "13722223333") if value in text]


# Tracing


async def test_a_traced_request_is_one_trace_with_its_statements_as_child_spans(app_settings_for, engine, demo, logged):
    # given the service traced to an exporter in memory
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(app_settings_for(), str(engine.url), engine=engine, tracer_provider=provider)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            api = Api(client, engine, demo)
            token = await api.token("club_operator")
            exporter.clear()
            # when an operator sends one request, then another naming a trace of its own
            await api.post({"query": "{ grades { code } members(first: 1) { edges { cursor } } }"}, token)
            spans = exporter.get_finished_spans()
            exporter.clear()
            forged = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            await client.post("/graphql", json={"query": "{ __typename }"}, headers={"traceparent": forged})
            [second] = [span for span in exporter.get_finished_spans() if span.parent is None]
    finally:
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        AsyncPGInstrumentor().uninstrument()
    # then its spans are one trace, under the HTTP request's span, the SQL among them
    assert len({span.context.trace_id for span in spans}) == 1
    [root] = [span for span in spans if span.parent is None]
    assert root.name.startswith("POST")
    statements = [span for span in spans if span.attributes.get("db.system") == "postgresql"]
    assert statements, [span.name for span in spans]
    assert any("grade" in str(span.attributes.get("db.statement", "")) for span in statements)
    assert any(span.name == "GraphQL Query" for span in spans)
    # and no span holds the document or an argument (a password, a PIN)
    assert not [
        s.name for s in spans if "query" in s.attributes or any(k.startswith("graphql.param") for k in s.attributes)
    ]
    # and the request's log line names the trace
    assert request_lines(logged)[-2]["trace_id"] == format(root.context.trace_id, "032x")
    # and a client's own trace context is not believed: its request is a trace of the service's own
    assert format(second.context.trace_id, "032x") != forged.split("-")[1] and second.parent is None


async def test_a_finished_run_counts_by_kind_and_state_with_its_figures(api: Api):
    # given a paid bill of September, and the metrics as they stand
    from tests.graphql.test_accrual import record, run_month

    await record(api)
    before = scrape((await api.client.get("/metrics")).text)
    # when September's accrual runs to its end
    figures = await run_month(api)
    after = scrape((await api.client.get("/metrics")).text)
    # then one more run of its kind is DONE, and its figures are counted
    runs = "loyalty_job_runs_total"
    assert (
        sample(after, runs, kind="MONTHLY_ACCRUAL", state="DONE")
        - sample(before, runs, kind="MONTHLY_ACCRUAL", state="DONE")
        == 1
    )
    done = "loyalty_job_figures_total"
    assert (
        sample(after, done, kind="MONTHLY_ACCRUAL", figure="points")
        - sample(before, done, kind="MONTHLY_ACCRUAL", figure="points")
        == figures["points"]
    )


async def test_redemptions_count_by_channel_and_a_wrong_pin_counts_once(api: Api):
    # given the metrics as they stand
    from tests.graphql.test_redemption import POS, REDEEM, at, redeem_input

    before = scrape((await api.client.get("/metrics")).text)
    # when Li Wei redeems a pack of minutes on the web, and an agent's POS is given a wrong PIN
    await api.data(REDEEM, redeem_input(api, "m-1", ("MIN-60", 1)), as_="member")
    wrong = redeem_input(api, "m-2", ("MIN-60", 1), channel="POS", outletId=at(api, "SZ-POS"),
                         cardNumber=POS["cardNumber"], cardPin="975310")  # fmt: skip
    await api.data(REDEEM, wrong, as_="agent")
    quote = """query($input: QuoteRedemptionInput!) { quoteRedemption(input: $input) { errors { code } } }"""
    wrong["input"].pop("idempotencyKey")
    await api.data(quote, wrong, as_="agent")  # a quote checks the PIN as a redemption does
    after = scrape((await api.client.get("/metrics")).text)
    # then one web redemption of 500 points, and two PIN failures
    assert (
        sample(after, "loyalty_redemptions_total", channel="WEB")
        - sample(before, "loyalty_redemptions_total", channel="WEB")
        == 1
    )
    points = "loyalty_points_moved_total"
    assert sample(after, points, entry_type="REDEMPTION") - sample(before, points, entry_type="REDEMPTION") == 500
    assert sample(after, "loyalty_pin_failures_total") - sample(before, "loyalty_pin_failures_total") == 2


def test_a_logged_traceback_shows_no_variables_of_its_frames(logged):
    # given a failure inside a frame that holds a secret
    def send(pin: str) -> None:
        raise ConnectionError("gateway down")

    # when it is logged with its traceback
    try:
        send("975310")
    except ConnectionError:
        logging.getLogger("loyalty.test").exception("sending failed")
    # then the line holds the traceback, but not the frame's variables
    [line] = [line for line in logged() if line["event"] == "sending failed"]
    assert "gateway down" in str(line["exception"]) and "975310" not in str(line)
