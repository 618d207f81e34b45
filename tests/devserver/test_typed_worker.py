"""Typed step results through a real ``durable dev``: the step bodies and the handler run in
its worker process, the results go over the socket as JSON and live in SQLite in between."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from tests.support.harness import DevProcess, wait_for

APP = textwrap.dedent(
    """
    from __future__ import annotations

    import json
    import os
    import uuid
    from dataclasses import dataclass
    from datetime import date, datetime, timezone
    from decimal import Decimal
    from enum import Enum
    from pathlib import Path

    import pydantic

    from durable import Context, Durable

    app = Durable(id="typed-e2e")
    LEDGER = Path(os.environ["LEDGER"])


    class Status(Enum):
        PAID = "paid"


    @dataclass
    class Cart:
        id: uuid.UUID
        total: Decimal
        opened: datetime


    class Receipt(pydantic.BaseModel):
        cart: uuid.UUID
        status: Status
        at: datetime


    def open_cart() -> Cart:
        return Cart(uuid.UUID(int=7), Decimal("10.50"), datetime(2026, 1, 1, tzinfo=timezone.utc))


    def pay(cart: Cart) -> Receipt:
        return Receipt(cart=cart.id, status=Status.PAID, at=cart.opened)


    def history(cart: Cart) -> tuple[list[Receipt], dict[str, datetime], date | None]:
        receipt = pay(cart)
        return [receipt, receipt], {"opened": cart.opened}, date(2026, 1, 2)


    def note(name, *values):
        with LEDGER.open("a") as f:
            f.write(json.dumps([name, [type(v).__name__ for v in values]]) + "\\n")


    @app.function(id="checkout", triggers=[{"event": "typed/checkout"}])
    async def checkout(ctx: Context) -> Receipt:
        cart = await ctx.step.run("cart", open_cart)
        receipt = await ctx.step.run("pay", pay, cart)
        receipts, stamps, day = await ctx.step.run("history", history, cart)
        seen = (cart, cart.total, cart.opened, receipt, receipt.status)
        more = (receipts[1], stamps["opened"], day, cart.id)
        note("before-sleep", *seen, *more)
        await ctx.step.sleep("pause", "20ms")
        note("after-sleep", *seen, *more)
        return receipt
    """
)


def test_typed_results_through_the_dev_servers_worker(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    ledger = tmp_path / "ledger.txt"
    server = DevProcess(tmp_path, tmp_path / "app.py", env={"LEDGER": str(ledger)}).start()
    try:
        server.send({"name": "typed/checkout", "data": {}})
        run = wait_for(lambda: server.finished("checkout", 1), what="the run")[0]
        detail = server.get(f"/api/runs/{run['run_id']}")
    finally:
        server.stop()
    assert detail["status"] == "completed", detail["error"]
    kinds = ["Cart", "Decimal", "datetime", "Receipt", "Status"]
    kinds += ["Receipt", "datetime", "date", "UUID"]
    passes = [json.loads(line) for line in ledger.read_text().splitlines()]
    # first pass: bodies ran in the worker; second pass: results read back from SQLite
    assert passes == [["before-sleep", kinds], ["before-sleep", kinds], ["after-sleep", kinds]]
    steps = {step["key"]: step["output"] for step in detail["steps"]}
    cart_id = "00000000-0000-0000-0000-000000000007"
    assert steps["cart"] == {
        "id": cart_id,
        "total": "10.50",
        "opened": "2026-01-01T00:00:00+00:00",
    }
    assert steps["pay"] == {"cart": cart_id, "status": "paid", "at": "2026-01-01T00:00:00Z"}
    assert detail["output"] == steps["pay"]
    opened = "2026-01-01T00:00:00+00:00"
    assert steps["history"] == [[steps["pay"], steps["pay"]], {"opened": opened}, "2026-01-02"]


DEPLOY_V1 = textwrap.dedent(
    """
    from dataclasses import dataclass

    from durable import Context, Durable

    app = Durable(id="typed-deploy")


    @dataclass
    class Address:
        city: str


    def lookup() -> Address:
        return Address("Lyon")


    @app.function(id="deliver", triggers=[{"event": "typed/deliver"}])
    async def deliver(ctx: Context) -> str:
        address = await ctx.step.run("address", lookup)
        if ctx.event.data.get("wait"):  # until the test says go: after the reload
            await ctx.step.wait_for_event("go", event="typed/go", timeout="1h")
        return address.city
    """
)
# The deploy that lands while a run waits: Address gained a required field.
DEPLOY_V2 = DEPLOY_V1.replace("    city: str\n", "    city: str\n    zip: str\n").replace(
    'Address("Lyon")', 'Address("Lyon", "69001")'
)


def test_a_type_changed_by_a_reload_fails_the_waiting_run_naming_step_type_and_field(
    tmp_path: Path,
) -> None:
    app = tmp_path / "app.py"
    app.write_text(DEPLOY_V1)
    server = DevProcess(tmp_path, app).start()
    try:
        old = server.send({"name": "typed/deliver", "data": {"wait": True}})[0]
        wait_for(lambda: server.runs(status="waiting"), what="the run to wait")
        app.write_text(DEPLOY_V2)
        wait_for(lambda: server.get("/health").get("reloads", 0) >= 1, what="a reload")
        server.send({"name": "typed/go", "data": {}})
        new = server.send({"name": "typed/deliver", "data": {}})[0]
        runs = wait_for(lambda: server.finished("deliver", 2), timeout=30, what="both runs")
    finally:
        server.stop()
    by_event = {run["event"]["id"]: run for run in runs}
    assert by_event[new]["status"] == "completed"  # the new code works for new runs
    assert by_event[new]["output"] == "Lyon"
    failed = by_event[old]
    assert failed["status"] == "failed"
    error = failed["error"]
    assert error["name"] == "ResultTypeError"
    assert (error["step_id"], error["type"], error["field"]) == ("address", "Address", "zip")
    assert error["message"] == (
        "the result of step 'address' no longer fits its type Address, field 'zip': required "
        "field is missing (did the type change since it was stored?)"
    )
