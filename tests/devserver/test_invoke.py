"""``POST /api/functions/{id}/invoke``: start one function by hand, or a cron function now."""

from __future__ import annotations

from tests.support.extra_functions import add_function, charge
from tests.support.live import JSON, LiveServer


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
