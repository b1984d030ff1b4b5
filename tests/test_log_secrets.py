"""What the whole run logged holds none of the secrets or personal data the tests handled.

Runs last (tests/conftest.py orders it so): the suite's log file then holds every line the app, the
jobs and the command line wrote during the run, as production writes them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from loyalty.demo import DEMO_PASSWORD, DEMO_PIN, MEMBERS
from tests.api import issued_tokens

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


WORD = re.compile(r"[A-Za-z0-9._~+/=-]+")


def _standing_alone(secret: str) -> re.Pattern[str]:
    """`secret` as a value of its own (`"pin": "246810"`, `pin=246810`), not digits that happen to be inside a
    timestamp's microseconds or a request id (`…09.246810Z`, `…f246810a…`): one line in a few hundred thousand
    holds the PIN's six digits so, and failed the run by chance."""
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])")


def personal() -> set[str]:
    """The demo data's password and PIN, and its members' identity document and phone numbers."""
    found = {DEMO_PASSWORD, DEMO_PIN, "13800000000"}
    for _, id_number, *_, line in MEMBERS:
        found |= {id_number, line}
    return found


def test_the_suites_log_holds_no_secret(suite_log: Path):
    # given every line the run logged
    text = suite_log.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines, "the run logged nothing: the log is not where the tests write it"
    # then each is one JSON object, and none holds a secret, a token or a bearer credential
    for line in lines:
        json.loads(line)
    leaked = sorted(secret for secret in personal() if _standing_alone(secret).search(text))
    assert leaked == [], f"the log holds {len(leaked)} secrets, e.g. {leaked[0][:6]}…"
    tokens = issued_tokens & set(WORD.findall(text))
    assert not tokens, f"the log holds {len(tokens)} of the credentials the run used"
    assert not JWT.search(text), "the log holds a token"
    assert "bearer " not in text.lower()
