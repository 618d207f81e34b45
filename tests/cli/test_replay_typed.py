"""``durable replay`` of a fixture holding the JSON form of typed step results (SPEC 8)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import replay, write_app

pytestmark = pytest.mark.usefixtures("clean_imports")  # each test imports its own app module

TYPED_APP = """
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import pydantic

from durable import Context, Durable

app = Durable(id="shop")


@dataclass
class Cart:
    total: Decimal
    opened: datetime


class Charge(pydantic.BaseModel):
    id: str
    amount: Decimal
    at: datetime


def fetch() -> Cart:
    raise AssertionError("a replay runs no recorded step body")


def charge(cart: Cart) -> Charge:
    raise AssertionError("a replay runs no recorded step body")


@app.function(id="order", triggers=[{"event": "order/created"}])
async def order(ctx: Context) -> Charge:
    cart = await ctx.step.run("fetch", fetch)
    assert isinstance(cart, Cart) and isinstance(cart.total, Decimal), cart
    await ctx.step.sleep("pause", "2d")
    receipt = await ctx.step.run("charge", charge, cart)
    assert isinstance(receipt, Charge), receipt
    return receipt.model_copy(update={"amount": receipt.amount + cart.total})
"""

TYPED_FIXTURE: dict[str, Any] = {
    "function": "order",
    "event": {"name": "order/created", "data": {}, "ts": 1_767_225_600_000},
    "steps": {
        "fetch": {"kind": "run", "output": {"total": "10.50", "opened": "2026-01-01T10:00:00Z"}},
        "pause": {"kind": "sleep", "output": None},
        "charge": {
            "kind": "run",
            "output": {"id": "ch_1", "amount": "10.50", "at": "2026-01-03T10:00:00Z"},
        },
    },
    "expect": {
        "status": "completed",
        "output": {"id": "ch_1", "amount": "21.00", "at": "2026-01-03T10:00:00Z"},
        "steps": ["fetch", "pause", "charge"],
    },
}


def test_a_fixture_holds_json_and_the_handler_gets_the_types(tmp_path: Path) -> None:
    app = write_app(tmp_path, TYPED_APP)
    fixture = tmp_path / "order.json"
    fixture.write_text(json.dumps(TYPED_FIXTURE, indent=2))
    result = replay(fixture, "--app", app)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "1 passed, 0 failed"
    # --update keeps the JSON form
    result = replay(fixture, "--app", app, "--update")
    assert result.exit_code == 0, result.output
    assert json.loads(fixture.read_text())["steps"] == TYPED_FIXTURE["steps"]


def test_recorded_json_that_no_longer_fits_the_type_names_step_type_and_field(
    tmp_path: Path,
) -> None:
    app = write_app(tmp_path, TYPED_APP)
    stale = json.loads(json.dumps(TYPED_FIXTURE))
    stale["steps"]["charge"]["output"]["amount"] = "ten"
    fixture = tmp_path / "stale.json"
    fixture.write_text(json.dumps(stale))
    result = replay(fixture, "--app", app)
    assert result.exit_code == 1, result.output
    assert "ResultTypeError" in result.stdout
    assert "step 'charge' no longer fits its type Charge, field 'amount'" in result.stdout
