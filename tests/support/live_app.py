"""The app the live server (:mod:`tests.support.live`) executes in process.

Also a plain app module: ``durable replay --app tests/support/live_app.py`` loads it (the CLI
tests replay runs exported from the live server against it).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from durable import Context, Durable, NonRetriableError

app = Durable(id="api-tests", logger=logging.getLogger("durable.tests.api"))


@app.function(id="pipeline", triggers=[{"event": "test/pipeline"}], backoff=["10ms"])
async def pipeline(ctx: Context) -> dict[str, Any]:
    """Steps, a short sleep and log lines inside and outside steps."""
    n = ctx.event.data.get("n", 0)
    ctx.logger.info("pipeline starting with n=%s", n)

    def add_one() -> int:
        ctx.logger.info("adding one")
        return n + 1

    a = await ctx.step.run("a", add_one)
    await ctx.step.sleep("pause", ctx.event.data.get("pause", "1ms"))
    b = await ctx.step.run("b", lambda: a * 2)
    return {"a": a, "b": b}


@app.function(id="flaky", triggers=[{"event": "test/flaky"}], retries=3, backoff=["10ms"])
async def flaky(ctx: Context) -> str:
    """A step failing its first two attempts."""

    def unstable() -> str:
        if ctx.attempt < 2:
            raise RuntimeError(f"boom {ctx.attempt}")
        return "ok"

    return await ctx.step.run("unstable", unstable)


@app.function(id="doomed", triggers=[{"event": "test/doomed"}], retries=0, backoff=["10ms"])
async def doomed(ctx: Context) -> None:
    """A step that fails for good: the run fails."""

    def explode() -> None:
        raise NonRetriableError("no way")

    await ctx.step.run("explode", explode)


@app.function(id="waiter", triggers=[{"event": "test/wait"}])
async def waiter(ctx: Context) -> Any:
    """Waits for an approval matching its ``data.id``."""
    approval = await ctx.step.wait_for_event(
        "approval",
        event="test/approved",
        timeout=ctx.event.data.get("timeout", "1m"),
        if_="event.data.id == async.data.id",
    )
    return approval.data if approval is not None else None


@app.function(id="sleeper", triggers=[{"event": "test/sleep"}])
async def sleeper(ctx: Context) -> str:
    """Sleeps an hour: a run that stays ``sleeping``."""
    await ctx.step.sleep("nap", "1h")
    return "rested"


@app.function(id="chain", triggers=[{"event": "test/chain"}])
async def chain(ctx: Context) -> dict[str, Any]:
    """Three steps feeding each other; ``one`` returns a fresh nonce each time it runs."""
    one = await ctx.step.run("one", lambda: secrets.token_hex(4))
    two = await ctx.step.run("two", lambda: {"n": 2})
    three = await ctx.step.run("three", lambda: two["n"] * 10)
    return {"one": one, "two": two, "three": three}
