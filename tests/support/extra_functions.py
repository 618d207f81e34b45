"""Functions a test adds to a running live server (``tests.support.live``), as a reload would.

:func:`add_function` registers one on the server; :data:`nightly` (cron only) is the default,
:data:`charge` has a slash in its id.
"""

from __future__ import annotations

from typing import Any

from durable import Context, Durable, DurableFunction
from durable.devserver.registry import FunctionInfo
from tests.support.live import LiveServer

extra = Durable(id="invoke-tests")


@extra.function(id="nightly", triggers=[{"cron": "0 3 1 1 *"}])
async def nightly(ctx: Context) -> dict[str, Any]:
    """A cron-only function (its schedule never falls due during a test)."""
    return {"event": ctx.event.name, "data": dict(ctx.event.data)}


@extra.function(id="billing/charge", triggers=[{"event": "billing/charge.requested"}])
async def charge(ctx: Context) -> dict[str, Any]:
    """A function whose id has a slash in it (ids may)."""
    return dict(ctx.event.data)


def add_function(server: LiveServer, fn: DurableFunction = nightly) -> None:
    """Register ``fn`` on the running server, as a reload would."""

    async def install() -> None:
        ctx = server.ctx
        ctx.orchestrator.executor.functions[fn.id] = fn  # type: ignore[attr-defined]
        ctx.orchestrator.set_functions([*ctx.orchestrator.functions(), fn.config])
        infos = [*ctx.registry.functions.values(), FunctionInfo(fn.id, extra.id, fn.config)]
        ctx.registry.replace(infos, [])

    server.call(install)
