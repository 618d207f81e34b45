"""cleanup-order: undo what a failed or cancelled process-order run left behind.

When a run fails for good, durable emits ``durable/function.failed``; when one is
cancelled, ``durable/function.cancelled``. Both carry ``function_id``, ``run_id`` and the
original ``event`` (plus ``error`` for failures, ``reason`` for cancellations), so an
ordinary function can trigger on them and clean up.

The ``if`` filters matter: a cleanup function that reacted to *every* failure would also
react to its own, and a cleanup that keeps failing would keep triggering itself.
"""

from __future__ import annotations

from durable import Context, Durable

app = Durable(id="ops")


# -- fake external services -----------------------------------------------------------------------


class Inventory:
    """A fake inventory service (the one process-order reserves stock with)."""

    def __init__(self) -> None:
        self.released: list[str] = []

    def release(self, order_id: str) -> dict:
        if order_id not in self.released:  # releasing twice is harmless
            self.released.append(order_id)
        return {"released": order_id}


class Support:
    """A fake ticketing system."""

    def __init__(self) -> None:
        self.tickets: list[dict] = []

    def open_ticket(self, title: str, details: dict) -> str:
        self.tickets.append({"title": title, "details": details})
        return f"ticket-{len(self.tickets)}"


inventory = Inventory()
support = Support()


# -- the durable function -------------------------------------------------------------------------

ONLY_ORDERS = 'event.data.function_id == "process-order"'


@app.function(
    id="cleanup-order",
    triggers=[
        {"event": "durable/function.failed", "if": ONLY_ORDERS},
        {"event": "durable/function.cancelled", "if": ONLY_ORDERS},
    ],
)
async def cleanup_order(ctx: Context) -> dict:
    failed_run = ctx.event.data
    order_id = failed_run["event"]["data"]["orderId"]  # the event that started process-order
    why = failed_run.get("error") or {"reason": failed_run.get("reason")}

    # Cleanup talks to other services too, so it is made of steps like any durable function:
    # retried on failure, never repeated once done.
    released = await ctx.step.run("release-stock", inventory.release, order_id)
    ticket = await ctx.step.run(
        "open-ticket",
        support.open_ticket,
        f"order {order_id}: {ctx.event.name.removeprefix('durable/function.')}",
        {"run_id": failed_run["run_id"], "why": why.get("message") or why.get("reason")},
    )
    return {"orderId": order_id, **released, "ticket": ticket}
