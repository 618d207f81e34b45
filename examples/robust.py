"""fetch-shipping-quote: ask the primary carrier, fall back to a second one if it stays down.

When a step has used up all its attempts, ``StepError`` is raised at its ``await`` in the
handler. Catching it is how a durable function falls back: the failed step stays failed (it
is not retried again on later passes), and the fallback is an ordinary step of its own.

Try it with the dev server running (``durable dev``)::

    durable send shipping/quote.requested --data '{"parcelId": "p-1", "weightKg": 2.5}'
"""

from __future__ import annotations

from durable import Context, Durable, StepError

app = Durable(id="shipping")


# -- fake external services -----------------------------------------------------------------------


class Carrier:
    """A fake carrier API. Set ``down`` to make every call fail."""

    def __init__(self, name: str, rate_per_kg: float) -> None:
        self.name = name
        self.rate_per_kg = rate_per_kg
        self.down = False
        self.calls = 0

    def quote(self, parcel: dict) -> dict:
        self.calls += 1
        if self.down:
            raise ConnectionError(f"{self.name} is not answering")
        return {"carrier": self.name, "price": round(parcel["weightKg"] * self.rate_per_kg, 2)}


primary = Carrier("fastship", rate_per_kg=4.0)
secondary = Carrier("slowpost", rate_per_kg=6.5)


# -- the durable function -------------------------------------------------------------------------


@app.function(
    id="fetch-shipping-quote",
    triggers=[{"event": "shipping/quote.requested"}],
    # Give the primary a few quick tries before falling back: 3 attempts, 1s then 5s apart
    # (instead of the default schedule, which starts at 15s).
    retries=2,
    backoff=["1s", "5s"],
)
async def fetch_shipping_quote(ctx: Context) -> dict:
    parcel = ctx.event.data
    try:
        # Extra arguments after the function are passed to it: primary.quote(parcel).
        quote = await ctx.step.run("primary-carrier", primary.quote, parcel)
    except StepError as exc:
        # Raised once, after the last attempt. exc.name and exc.message describe the error
        # the step raised (here ConnectionError).
        ctx.logger.warning("primary carrier failed (%s: %s); falling back", exc.name, exc.message)
        quote = await ctx.step.run("fallback-carrier", secondary.quote, parcel)
    return quote
