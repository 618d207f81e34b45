"""Typed step results through a real ``durable dev``: the step bodies and the handler run in
its worker process, the results go over the socket as JSON and live in SQLite in between."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from durable.devserver.harness import DevProcess, wait_for

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
