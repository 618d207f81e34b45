"""``POST /api/functions/{id}/invoke``: start one function by hand, or a cron function now."""

from __future__ import annotations

from typing import Any

from durable import Context, Durable, DurableFunction
from durable.devserver.registry import FunctionInfo
from tests.devserver.conftest import JSON, LiveServer

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


def test_invoke_starts_only_that_function_with_the_data(live_server: LiveServer) -> None:
    response = live_server.client.post("/api/functions/pipeline/invoke", json={"data": {"n": 5}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["function_id"] == "pipeline"
    assert body["event"]["name"] == "durable/function.invoked"
    run = live_server.wait_run(body["run_id"])
    assert run["status"] == "completed" and run["output"] == {"a": 6, "b": 12}
    assert len(live_server.get("/api/runs")["runs"]) == 1


def test_a_cron_function_runs_now_with_its_timer_event(live_server: LiveServer) -> None:
    add_function(live_server)
    response = live_server.client.post("/api/functions/nightly/invoke", headers=JSON)
    assert response.status_code == 200, response.text
    run = live_server.wait_run(response.json()["run_id"])
    assert run["output"] == {
        "event": "durable/scheduled.timer",
        "data": {"cron": "0 3 1 1 *", "function_id": "nightly"},
    }


def test_invoke_errors(live_server: LiveServer) -> None:
    missing = live_server.client.post("/api/functions/nope/invoke", headers=JSON)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "unknown_function"
    for body in ([1], {"data": [1]}, {"data": "x"}):
        response = live_server.client.post("/api/functions/pipeline/invoke", json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "invalid_body"
    assert live_server.get("/api/runs")["runs"] == []


def test_a_function_id_with_a_slash_can_be_invoked(live_server: LiveServer) -> None:
    add_function(live_server, charge)
    for path in ("billing/charge", "billing%2Fcharge"):  # as written, and as clients quote it
        response = live_server.client.post(
            f"/api/functions/{path}/invoke", json={"data": {"cents": 250}}
        )
        assert response.status_code == 200, (path, response.text)
        run = live_server.wait_run(response.json()["run_id"])
        assert run["function_id"] == "billing/charge" and run["output"] == {"cents": 250}
