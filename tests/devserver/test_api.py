"""The HTTP API over real HTTP: shapes pinned to SPEC section 2, every bad input answered."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.live import JSON, LiveServer, serve, wait_for
from tests.support.live_app import app

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
RUN_FIELDS = {
    "run_id",
    "function_id",
    "status",
    "event",
    "output",
    "error",
    "started_at",
    "ended_at",
    "steps",
}
STEP_FIELDS = {"key", "id", "kind", "status", "attempts", "output", "error"}
ATTEMPT_FIELDS = {"started_at", "ended_at", "error"}


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> str:
    """The response is an error in the API's one shape; returns its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) >= {"error"}
    assert set(body["error"]) == {"code", "message"}
    if code is not None:
        assert body["error"]["code"] == code
    assert "Traceback" not in response.text
    message: str = body["error"]["message"]
    assert message
    return message


# -- events ----------------------------------------------------------------------------


def test_health(live_server: LiveServer) -> None:
    health = live_server.get("/health")
    assert health["status"] == "ok"
    assert health["functions"] == len(app.functions)
    assert ISO.match(health["started_at"])


def test_post_one_event_or_a_list(live_server: LiveServer) -> None:
    client = live_server.client
    one = client.post("/api/events", json={"name": "test/other", "data": {"x": 1}})
    assert one.status_code == 200
    assert set(one.json()) == {"ids", "events"} and len(one.json()["ids"]) == 1
    batch = [{"name": "test/other"}, {"name": "test/other", "id": "my-id", "data": {}}]
    many = client.post("/api/events", json=batch)
    assert many.status_code == 200
    ids = many.json()["ids"]
    assert len(ids) == 2 and ids[1] == "my-id"
    again = client.post("/api/events", json={"name": "test/other", "id": "my-id"})
    assert again.json()["ids"] == ["my-id"]
    events = live_server.get("/api/events", name="test/other")["events"]
    assert [e["id"] for e in events][:2] == ["my-id", "my-id"]
    assert events[0]["skipped"] and "duplicate" in events[0]["skipped"]


def test_inngest_event_api(live_server: LiveServer) -> None:
    response = live_server.client.post(
        "/e/any-key", json=[{"name": "test/pipeline", "data": {"n": 1}, "v": "1"}]
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == 200 and len(body["ids"]) == 1
    run_id = live_server.run_ids(body["ids"][0])[0]
    assert live_server.wait_run(run_id)["status"] == "completed"
    bad = live_server.client.post("/e/any-key", json={"data": {}})
    assert_error(bad, 400, "invalid_event")
    assert bad.json()["status"] == 400


def test_list_events_with_their_runs(live_server: LiveServer) -> None:
    event_id = live_server.send("test/pipeline", {"n": 1}, user={"email": "a@b.c"})
    live_server.send("test/other")
    events = live_server.get("/api/events", limit=10)["events"]
    assert [e["name"] for e in events] == ["test/other", "test/pipeline"]
    event = events[1]
    assert set(event) >= {"name", "id", "data", "ts", "user", "received_at", "run_ids", "skipped"}
    assert event["id"] == event_id and event["data"] == {"n": 1}
    assert event["user"] == {"email": "a@b.c"}
    assert ISO.match(event["received_at"]) and isinstance(event["ts"], int)
    assert len(event["run_ids"]) == 1 and event["skipped"] is None
    only = live_server.get("/api/events", name="test/pipeline", limit=1)["events"]
    assert [e["id"] for e in only] == [event_id]


def test_functions(live_server: LiveServer) -> None:
    body = live_server.get("/api/functions")
    assert set(body) == {"functions", "errors"} and body["errors"] == []
    by_id = {f["id"]: f for f in body["functions"]}
    assert set(by_id) == {"pipeline", "flaky", "doomed", "waiter", "sleeper", "chain"}
    flaky = by_id["flaky"]
    assert set(flaky) >= {"id", "app_id", "triggers", "config"}
    assert flaky["app_id"] == "api-tests"
    assert flaky["triggers"] == [{"event": "test/flaky"}]
    assert flaky["config"]["retries"] == 3


# -- runs ------------------------------------------------------------------------------


def test_run_view_shape(live_server: LiveServer) -> None:
    run_id = live_server.start("test/pipeline", {"n": 3})
    run = live_server.wait_run(run_id)
    assert set(run) >= RUN_FIELDS
    assert run["status"] == "completed" and run["function_id"] == "pipeline"
    assert run["output"] == {"a": 4, "b": 8} and run["error"] is None
    assert run["event"]["name"] == "test/pipeline" and run["event"]["data"] == {"n": 3}
    assert ISO.match(run["started_at"]) and ISO.match(run["ended_at"])
    assert run["started_at"] <= run["ended_at"]
    assert [s["key"] for s in run["steps"]] == ["a", "pause", "b"]
    assert [s["kind"] for s in run["steps"]] == ["run", "sleep", "run"]
    for step in run["steps"]:
        assert set(step) >= STEP_FIELDS and step["status"] == "completed"
        for attempt in step["attempts"]:
            assert set(attempt) >= ATTEMPT_FIELDS
    assert run["steps"][0]["output"] == 4 and run["steps"][2]["output"] == 8
    listed = live_server.get("/api/runs", function="pipeline")["runs"]
    assert [r["run_id"] for r in listed] == [run_id]
    assert set(listed[0]) >= RUN_FIELDS and listed[0]["steps"] is None


def test_retried_step_timeline(live_server: LiveServer) -> None:
    run = live_server.wait_run(live_server.start("test/flaky"))
    assert run["status"] == "completed" and run["output"] == "ok"
    (step,) = run["steps"]
    assert step["key"] == "unstable" and step["status"] == "completed"
    attempts = step["attempts"]
    assert [a["error"]["message"] if a["error"] else None for a in attempts] == [
        "boom 0",
        "boom 1",
        None,
    ]
    assert attempts[0]["error"]["name"] == "RuntimeError"
    times = [t for a in attempts for t in (a["started_at"], a["ended_at"])]
    assert all(ISO.match(t) for t in times) and times == sorted(times)


def test_failed_run(live_server: LiveServer) -> None:
    run = live_server.wait_run(live_server.start("test/doomed"))
    assert run["status"] == "failed" and run["output"] is None
    assert "no way" in run["error"]["message"]
    (step,) = run["steps"]
    assert step["status"] == "failed" and step["error"]["message"] == "no way"
    assert len(step["attempts"]) == 1


def test_wait_for_event(live_server: LiveServer) -> None:
    run_id = live_server.start("test/wait", {"id": "w1"})
    live_server.wait_run(run_id, "waiting")
    live_server.send("test/approved", {"id": "other"})
    live_server.send("test/approved", {"id": "w1", "ok": True})
    run = live_server.wait_run(run_id)
    assert run["status"] == "completed" and run["output"] == {"id": "w1", "ok": True}
    (step,) = run["steps"]
    assert step["kind"] == "wait_for_event" and step["output"]["data"]["id"] == "w1"


def test_runs_paging_and_filters(live_server: LiveServer) -> None:
    sent = [live_server.start("test/sleep") for _ in range(5)]
    live_server.start("test/pipeline")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"function": "sleeper", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = live_server.get("/api/runs", **params)
        assert set(page) == {"runs", "cursor"}
        seen.extend(r["run_id"] for r in page["runs"])
        pages += 1
        cursor = page["cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == len(set(seen)) == 5
    assert seen == list(reversed(sent))  # newest first
    for run_id in sent:
        live_server.wait_run(run_id, "sleeping")
    sleeping = live_server.get("/api/runs", status="sleeping")["runs"]
    assert {r["run_id"] for r in sleeping} == set(sent)
    assert live_server.get("/api/runs", function="nope")["runs"] == []


def test_logs(live_server: LiveServer) -> None:
    run_id = live_server.start("test/pipeline", {"n": 5})
    live_server.wait_run(run_id)
    body = live_server.get(f"/api/runs/{run_id}/logs")
    messages = [(line["step"], line["message"]) for line in body["logs"]]
    assert messages == [(None, "pipeline starting with n=5"), ("a", "adding one")]
    assert all(line["level"] == "info" and ISO.match(line["ts"]) for line in body["logs"])
    only_a = live_server.get(f"/api/runs/{run_id}/logs", step="a")["logs"]
    assert [line["message"] for line in only_a] == ["adding one"]


def test_cancel(live_server: LiveServer) -> None:
    run_id = live_server.start("test/sleep")
    live_server.wait_run(run_id, "sleeping")
    response = live_server.client.post(f"/api/runs/{run_id}/cancel", headers=JSON)
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    run = live_server.get(f"/api/runs/{run_id}")
    assert run["status"] == "cancelled" and run["cancel_reason"] == "cancelled by request"
    assert ISO.match(run["ended_at"])
    again = live_server.client.post(f"/api/runs/{run_id}/cancel", headers=JSON)
    assert "cancelled" in assert_error(again, 409, "run_finished")
    cancelled = live_server.get("/api/events", name="durable/function.cancelled")["events"]
    assert cancelled[0]["data"]["run_id"] == run_id


def test_cancel_with_reason(live_server: LiveServer) -> None:
    run_id = live_server.start("test/sleep")
    bad = live_server.client.post(f"/api/runs/{run_id}/cancel", json={"reason": 3})
    assert "'reason'" in assert_error(bad, 400, "invalid_body")
    assert_error(live_server.client.post(f"/api/runs/{run_id}/cancel", json=[1]), 400)
    response = live_server.client.post(f"/api/runs/{run_id}/cancel", json={"reason": "by hand"})
    assert response.json()["cancel_reason"] == "by hand"


def test_rerun(live_server: LiveServer) -> None:
    first = live_server.wait_run(live_server.start("test/chain"))
    response = live_server.client.post(f"/api/runs/{first['run_id']}/rerun", headers=JSON)
    assert response.status_code == 200
    new_id = response.json()["run_id"]
    assert new_id != first["run_id"]
    second = live_server.wait_run(new_id)
    assert second["status"] == "completed" and second["trigger"] == "rerun"
    assert second["event"] == first["event"]
    assert second["output"]["one"] != first["output"]["one"]  # every step ran again


def test_rerun_from_step_with_output(live_server: LiveServer) -> None:
    first = live_server.wait_run(live_server.start("test/chain"))
    response = live_server.client.post(
        f"/api/runs/{first['run_id']}/rerun", json={"from_step": "two", "output": {"n": 7}}
    )
    assert response.status_code == 200, response.text
    second = live_server.wait_run(response.json()["run_id"])
    assert second["output"] == {"one": first["output"]["one"], "two": {"n": 7}, "three": 70}
    steps = {s["key"]: s for s in second["steps"]}
    assert steps["one"]["detail"]["reused_from"] == first["run_id"]
    assert steps["two"]["detail"]["replaced_output"] is True
    assert "reused_from" not in steps["three"]["detail"]
    assert [s["key"] for s in second["steps"]] == ["one", "two", "three"]


def test_rerun_from_step_reexecutes_it(live_server: LiveServer) -> None:
    first = live_server.wait_run(live_server.start("test/chain"))
    response = live_server.client.post(
        f"/api/runs/{first['run_id']}/rerun", json={"from_step": "two"}
    )
    second = live_server.wait_run(response.json()["run_id"])
    assert second["output"] == first["output"]  # "one" reused: same nonce
    steps = {s["key"]: s for s in second["steps"]}
    assert "reused_from" in steps["one"]["detail"]
    assert "reused_from" not in steps["two"]["detail"]


def test_rerun_errors(live_server: LiveServer) -> None:
    client = live_server.client
    run_id = live_server.wait_run(live_server.start("test/chain"))["run_id"]
    assert_error(client.post("/api/runs/nope/rerun", headers=JSON), 404, "run_not_found")
    message = assert_error(
        client.post(f"/api/runs/{run_id}/rerun", json={"from_step": "zzz"}), 422, "unknown_step"
    )
    assert "'zzz'" in message and "one, two, three" in message
    assert_error(client.post(f"/api/runs/{run_id}/rerun", json=[1]), 400)
    assert_error(client.post(f"/api/runs/{run_id}/rerun", json={"from_step": 3}), 400)
    assert_error(client.post(f"/api/runs/{run_id}/rerun", json={"output": 1}), 400)
    assert live_server.get("/health")["status"] == "ok"


def test_fixture_export(live_server: LiveServer) -> None:
    run_id = live_server.wait_run(live_server.start("test/pipeline", {"n": 1}))["run_id"]
    fixture = live_server.get(f"/api/runs/{run_id}/fixture")
    assert set(fixture) == {"function", "event", "steps", "expect"}
    assert fixture["function"] == "pipeline"
    assert fixture["event"]["data"] == {"n": 1}
    assert fixture["steps"] == {
        "a": {"kind": "run", "output": 2},
        "pause": {"kind": "sleep", "output": None},
        "b": {"kind": "run", "output": 4},
    }
    assert fixture["expect"] == {
        "status": "completed",
        "output": {"a": 2, "b": 4},
        "steps": ["a", "pause", "b"],
    }


def test_fixture_of_failed_and_waiting_runs(live_server: LiveServer) -> None:
    failed = live_server.wait_run(live_server.start("test/doomed"))["run_id"]
    fixture = live_server.get(f"/api/runs/{failed}/fixture")
    assert fixture["steps"]["explode"]["error"]["message"] == "no way"
    assert fixture["expect"]["status"] == "failed"
    waiting = live_server.start("test/wait", {"id": "x", "timeout": "1ms"})
    live_server.wait_run(waiting)
    fixture = live_server.get(f"/api/runs/{waiting}/fixture")
    assert fixture["steps"] == {"approval": {"kind": "wait_for_event", "output": None}}


# -- bad input: one server takes them all and keeps serving ------------------------------


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the bad-input cases: it must survive every one of them."""
    with serve(tmp_path_factory.mktemp("bad") / "dev.db") as server:
        yield server


BIG = "x" * (600 * 1024)

BAD_EVENTS: list[tuple[str, bytes | Any, int, str, str]] = [
    ("invalid json", b'{"name": ', 400, "invalid_json", "invalid JSON"),
    ("empty body", b"", 400, "invalid_json", "empty"),
    ("nan", b'{"name": "a", "data": {"x": NaN}}', 400, "invalid_json", "NaN"),
    ("not utf-8", b'{"name": "\xff"}', 400, "invalid_json", "invalid JSON"),
    ("a number", 42, 400, "invalid_event", "must be an object"),
    ("a string", "test/x", 400, "invalid_event", "must be an object"),
    ("missing name", {"data": {}}, 400, "invalid_event", "'name'"),
    ("empty name", {"name": " "}, 400, "invalid_event", "'name'"),
    ("name not a string", {"name": 3}, 400, "invalid_event", "'name'"),
    ("data not an object", {"name": "a", "data": [1]}, 400, "invalid_event", "'data'"),
    ("ts a string", {"name": "a", "ts": "x"}, 400, "invalid_event", "'ts'"),
    ("id a number", {"name": "a", "id": 5}, 400, "invalid_event", "'id'"),
    ("user a list", {"name": "a", "user": []}, 400, "invalid_event", "'user'"),
    ("unknown field", {"name": "a", "nam": 1}, 400, "invalid_event", "'nam'"),
    ("empty list", [], 400, "invalid_event", "at least one"),
    ("bad item", [{"name": "a"}, {"data": 1}], 400, "invalid_event", "event #1"),
    ("oversized event", {"name": "a", "data": {"s": BIG}}, 413, "event_too_large", "512 KB"),
    ("too many events", [{"name": "a"}] * 5001, 413, "too_many_events", "5001"),
]


@pytest.mark.parametrize(
    ("body", "status", "code", "needle"),
    [case[1:] for case in BAD_EVENTS],
    ids=[case[0] for case in BAD_EVENTS],
)
@pytest.mark.parametrize("path", ["/api/events", "/e/key"])
def test_bad_events(
    shared_server: LiveServer, path: str, body: Any, status: int, code: str, needle: str
) -> None:
    client = shared_server.client
    response = (
        client.post(path, content=body, headers=JSON)
        if isinstance(body, bytes)
        else client.post(path, json=body)
    )
    assert needle in assert_error(response, status, code)
    assert shared_server.get("/health")["status"] == "ok"


BAD_REQUESTS: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    ("unknown run", "GET", "/api/runs/nope", {}, 404, "run_not_found"),
    ("logs of unknown run", "GET", "/api/runs/nope/logs", {}, 404, "run_not_found"),
    ("fixture of unknown run", "GET", "/api/runs/nope/fixture", {}, 404, "run_not_found"),
    ("cancel unknown run", "POST", "/api/runs/nope/cancel", {}, 404, "run_not_found"),
    ("bad status", "GET", "/api/runs", {"status": "done"}, 400, "invalid_parameter"),
    ("limit zero", "GET", "/api/runs", {"limit": "0"}, 400, "invalid_parameter"),
    ("limit too big", "GET", "/api/runs", {"limit": "1001"}, 400, "invalid_parameter"),
    ("limit not a number", "GET", "/api/runs", {"limit": "ten"}, 400, "invalid_parameter"),
    ("negative limit", "GET", "/api/events", {"limit": "-1"}, 400, "invalid_parameter"),
    ("unknown cursor", "GET", "/api/runs", {"cursor": "nope"}, 400, "invalid_parameter"),
    ("unknown route", "GET", "/api/nothing", {}, 404, "not_found"),
    ("root", "GET", "/", {}, 404, "not_found"),
    ("wrong method", "DELETE", "/api/runs", {}, 405, "method_not_allowed"),
    ("get a post route", "GET", "/api/runs/x/cancel", {}, 405, "method_not_allowed"),
    ("put events", "PUT", "/api/events", {}, 405, "method_not_allowed"),
]


@pytest.mark.parametrize(
    ("method", "path", "params", "status", "code"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_requests(
    shared_server: LiveServer,
    method: str,
    path: str,
    params: dict[str, Any],
    status: int,
    code: str,
) -> None:
    headers = JSON if method == "POST" else None
    response = shared_server.client.request(method, path, params=params, headers=headers)
    message = assert_error(response, status, code)
    if status == 405:
        assert response.headers["allow"]
    if "status" in params:
        assert "completed" in message  # names the allowed values
    assert shared_server.get("/health")["status"] == "ok"


def _raw_request(url: str, head: bytes, body_chunks: Iterator[bytes]) -> bytes:
    """Send a request on a raw socket (ignoring a server that stops reading); the response."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(head)

        def pump() -> None:
            try:
                for chunk in body_chunks:
                    sock.sendall(chunk)
            except OSError:
                pass  # the server answered and closed: expected

        sender = threading.Thread(target=pump, daemon=True)
        sender.start()
        response = b""
        while b"}}" not in response:
            data = sock.recv(65536)
            if not data:
                break
            response += data
        sender.join(timeout=5)
        return response


def test_huge_declared_body(shared_server: LiveServer) -> None:
    head = (
        b"POST /api/events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000000\r\n\r\n"
    )
    response = _raw_request(shared_server.url, head, iter([b"[" + b" " * 65536]))
    assert response.startswith(b"HTTP/1.1 413")
    assert b'"code":"body_too_large"' in response
    assert shared_server.get("/health")["status"] == "ok"


def test_huge_chunked_body(shared_server: LiveServer) -> None:
    head = (
        b"POST /api/events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b" " * (1024 * 1024)

    def chunks() -> Iterator[bytes]:
        for _ in range(40):  # 40 MB, more than the 16 MB read at most
            yield b"%x\r\n%s\r\n" % (len(chunk), chunk)
        yield b"0\r\n\r\n"

    response = _raw_request(shared_server.url, head, chunks())
    assert response.startswith(b"HTTP/1.1 413")
    assert b"over the limit" in response
    assert shared_server.get("/health")["status"] == "ok"


def test_unexpected_error_is_a_generic_500(
    shared_server: LiveServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(**_: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(shared_server.ctx.store, "list_events", broken)
    response = shared_server.client.get("/api/events")
    message = assert_error(response, 500, "internal_error")
    assert "secret" not in response.text and "internal" in message
    monkeypatch.undo()
    assert shared_server.get("/health")["status"] == "ok"
    assert shared_server.get("/api/events")["events"] == []


def test_server_keeps_serving_runs_after_bad_input(tmp_path: Path) -> None:
    with serve(tmp_path / "dev.db") as server:
        server.client.post("/api/events", content=b"{{{", headers=JSON)
        server.client.post("/api/events", json={"name": "a", "data": {"s": BIG}})
        run_id = server.start("test/pipeline", {"n": 1})
        assert wait_for(lambda: server.get(f"/api/runs/{run_id}")["status"] == "completed")
