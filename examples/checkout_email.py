"""send-checkout-email: one email per cart, however many times checkout is reported.

Two layers of idempotency, both worth having for anything a customer sees:

- producer side: give the event a deterministic ``id``. A second event with the same id
  within 24 hours is accepted and ignored, so a retried HTTP request cannot start a second
  run (see ``checkout_completed``);
- consumer side: ``idempotency="event.data.cartId"`` runs the function at most once per cart
  per 24 hours, even for events with different ids.

Try it with the dev server running (``durable dev``)::

    durable send cart/checkout.completed --data '{"cartId": "cart-7",
        "email": "ada@example.com", "items": ["sku-1"]}'
"""

from __future__ import annotations

from durable import Context, Durable

app = Durable(id="checkout")


# -- fake external service ------------------------------------------------------------------------


class Mailer:
    """A fake email service."""

    def __init__(self) -> None:
        self.sent: list[dict] = []

    def send(self, to: str, subject: str, body: str) -> str:
        self.sent.append({"to": to, "subject": subject, "body": body})
        return f"msg-{len(self.sent)}"


mailer = Mailer()


def checkout_completed(cart_id: str, email: str, items: list[str]) -> dict:
    """The event to send when a checkout completes, with an id derived from the cart."""
    return {
        "id": f"checkout-completed-{cart_id}",
        "name": "cart/checkout.completed",
        "data": {"cartId": cart_id, "email": email, "items": items},
    }


# -- the durable function -------------------------------------------------------------------------


@app.function(
    id="send-checkout-email",
    triggers=[{"event": "cart/checkout.completed"}],
    idempotency="event.data.cartId",  # at most one run per cartId per 24 h
)
async def send_checkout_email(ctx: Context) -> dict:
    cart = ctx.event.data
    # Building the message is pure and deterministic: no step needed, it is cheap to redo.
    count = len(cart["items"])
    subject = f"Thanks for your order ({count} item{'s' if count != 1 else ''})"
    body = "You bought: " + ", ".join(cart["items"])
    # Sending is a side effect: a step, so a retry of the handler never sends it twice.
    message_id = await ctx.step.run("send-email", mailer.send, cart["email"], subject, body)
    return {"cartId": cart["cartId"], "messageId": message_id}
