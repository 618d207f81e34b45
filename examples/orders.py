"""process-order: reserve stock, wait until payment is due, charge, confirm.

The classic durable workflow. Each call to the outside world is a step, so a crash or a
deploy in the middle never reserves stock twice or charges a card twice: completed steps are
memoized and the handler picks up where it left off. The wait before charging is a durable
sleep (no process sits idle for it), and an ``order/cancelled`` event for the same order
cancels the run while it waits.

Try it with the dev server running (``durable dev``)::

    durable send order/created --data '{"orderId": "o-1", "amount": 4200,
        "email": "ada@example.com", "items": ["sku-1", "sku-2"]}'
"""

from __future__ import annotations

from durable import Context, Durable, NonRetriableError

app = Durable(id="shop")


# -- fake external services -----------------------------------------------------------------------
# Stand-ins for an inventory API, a payment provider and a mailer, so the example runs
# anywhere. Tests flip their switches to make them fail.


class Inventory:
    """A fake inventory service."""

    def __init__(self) -> None:
        self.reserved: dict[str, list[str]] = {}

    def reserve(self, order_id: str, items: list[str]) -> dict:
        self.reserved[order_id] = list(items)
        return {"reservationId": f"res-{order_id}", "items": list(items)}


class PaymentGateway:
    """A fake payment provider: ``outages`` calls fail with a network error, ``decline`` fails."""

    def __init__(self) -> None:
        self.charges: dict[str, int] = {}
        self.outages = 0
        self.decline = False

    def charge(self, order_id: str, amount: int) -> dict:
        if self.outages > 0:
            self.outages -= 1
            raise ConnectionError("payment provider unreachable")  # transient: retried
        if self.decline:
            # Retrying cannot turn a declined card into an accepted one: stop now.
            raise NonRetriableError(f"card declined for order {order_id}")
        # Real providers take an idempotency key; the order id is a natural one. A step can
        # run again if the process dies after the charge but before the checkpoint.
        self.charges.setdefault(order_id, amount)
        return {"chargeId": f"ch-{order_id}", "amount": amount}


class Mailer:
    """A fake email service."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, to: str, subject: str) -> str:
        self.sent.append((to, subject))
        return f"msg-{len(self.sent)}"


inventory = Inventory()
payments = PaymentGateway()
mailer = Mailer()


# -- the durable function -------------------------------------------------------------------------


@app.function(
    id="process-order",  # the stable name of this function: never rename it once deployed
    triggers=[{"event": "order/created"}],
    # An order/cancelled event with the same orderId cancels a run in flight (for instance
    # while it sleeps below); no further step starts.
    cancel_on=[{"event": "order/cancelled", "if": "event.data.orderId == async.data.orderId"}],
    retries=4,  # per step: up to 5 attempts each
)
async def process_order(ctx: Context) -> dict:
    order = ctx.event.data
    order_id = order["orderId"]

    # Talking to another service is a side effect: it goes in a step, so it runs once per
    # run and its result is checkpointed.
    reservation = await ctx.step.run(
        "reserve-stock", inventory.reserve, order_id, order.get("items", [])
    )

    # A durable sleep: the run is parked and costs nothing until it is due. It survives
    # restarts, and is the window in which order/cancelled can still stop the charge.
    if order.get("paymentDue"):
        await ctx.step.sleep_until("wait-for-payment-due", order["paymentDue"])
    else:
        await ctx.step.sleep("wait-for-payment-due", "10m")

    # A transient error here retries only this step, with backoff; the reservation above is
    # not made again. A NonRetriableError (card declined) fails the run at once.
    charge = await ctx.step.run("charge", payments.charge, order_id, order["amount"])

    # Outside any step, but written once per run: ctx.logger is silent while the handler
    # replays steps that already completed.
    ctx.logger.info("order %s charged (%s)", order_id, charge["chargeId"])

    message_id = await ctx.step.run(
        "send-confirmation", mailer.send, order["email"], f"Order {order_id} confirmed"
    )
    return {
        "orderId": order_id,
        "reservationId": reservation["reservationId"],
        "chargeId": charge["chargeId"],
        "confirmation": message_id,
    }
