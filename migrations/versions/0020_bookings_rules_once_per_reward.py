"""the bookings' run reads the consumption rules once per grade and reward

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06

`auto_redeem_check` finds the smallest balance the consumption rules in force ask of each grade and reward in
a pass (`minima`). PostgreSQL inlined that step into the query that judges every booking, and so evaluated
the rules' subquery once per booking and per place it is named: about 60 ms of a chunk of 10,000 bookings
(the checks 178 ms of it). Materialised, it is evaluated once per grade and reward of the pass (112 ms).
"""

import importlib.util
import re
from pathlib import Path

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_path = Path(__file__).with_name("0019_idempotency_results_by_their_key.py")
_spec = importlib.util.spec_from_file_location("revision_0019", _path)
assert _spec is not None and _spec.loader is not None
_earlier = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_earlier)

CHECK = ("auto_redeem_check",)
INLINED, MATERIALISED = "minima AS (", "minima AS MATERIALIZED ("


def upgrade() -> None:
    _earlier.rewrite([(re.compile(re.escape(INLINED)), MATERIALISED)], CHECK)


def downgrade() -> None:
    _earlier.rewrite([(re.compile(re.escape(MATERIALISED)), INLINED)], CHECK)
