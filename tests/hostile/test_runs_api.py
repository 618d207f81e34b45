"""Hostile input to the run endpoints and list queries: unknown run ids, bad bodies to
cancel/rerun, bad limits, cursors and statuses. Each is a 4xx naming the problem; a rejected
request changes nothing; the server keeps serving."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from durable.devserver.api import MAX_REASON_CHARS
from tests.support.hostile import (
    FEW,
    HOSTILE,
    Hostile,
    assert_rejected,
    json_values,
    surrogate_escapes,
)

STATUSES = ("queued", "running", "sleeping", "waiting", "completed", "failed", "cancelled")
RUN_ENDPOINTS = st.sampled_from(
    [("GET", ""), ("GET", "/logs"), ("GET", "/fixture"), ("POST", "/cancel"), ("POST", "/rerun")]
)

#: Run ids that route to the run endpoints: no '/', not a dot segment.
run_ids = st.text(min_size=1, max_size=40).filter(lambda s: "/" not in s and s not in (".", ".."))


@pytest.fixture(autouse=True)
def _settled(hostile: Hostile) -> Iterator[None]:
    hostile.settle()
    yield
    hostile.assert_serving()


@HOSTILE
@given(run_id=run_ids, endpoint=RUN_ENDPOINTS, body=st.none() | json_values)
@example(run_id="\x00", endpoint=("POST", "/cancel"), body=None)
@example(run_id="01M89BKMJ7EY5V6W872N4SRY32", endpoint=("GET", ""), body=None)
@example(run_id="' OR 1=1 --", endpoint=("POST", "/rerun"), body={"from_step": "one"})
def test_unknown_run_ids_are_404(
    hostile: Hostile, run_id: str, endpoint: tuple[str, str], body: Any
) -> None:
    method, suffix = endpoint
    before = hostile.state()
    headers = {"content-type": "application/json"} if method == "POST" else None
    response = hostile.client.request(
        method, f"/api/runs/{quote(run_id, safe='')}{suffix}", json=body, headers=headers
    )
    code, message = assert_rejected(hostile, response, before, 404)
    assert code == "run_not_found"
    assert repr(run_id) in message


def _rejected_bodies() -> st.SearchStrategy[bytes]:
    plain = json_values.map(lambda v: httpx.Request("POST", "/", json=v).content)
    reasons = st.one_of(json_values, st.just(""), surrogate_escapes.map(lambda e: f"x{e}"))
    return plain | reasons.map(
        lambda r: (
            f'{{"reason": "{r}"}}'.encode()
            if isinstance(r, str) and "\\u" in r
            else httpx.Request("POST", "/", json={"reason": r}).content
        )
    )


_SURROGATE = re.compile("[\ud800-\udfff]")


def strict_json(body: bytes) -> tuple[bool, Any]:
    """``(True, value)`` if ``body`` is UTF-8 JSON text holding no lone surrogate."""
    try:
        value = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError, JSONDecodeError
        return False, None
    if _SURROGATE.search(json.dumps(value, ensure_ascii=False)):
        return False, None
    return True, value


def _cancel_accepts(body: bytes) -> bool:
    """Whether a cancel with ``body`` would cancel (SPEC: empty, or an object with a reason)."""
    if not body.strip():
        return True
    ok, value = strict_json(body)
    if not ok:
        return False
    if not isinstance(value, dict):  # null too: only no body at all means "no reason"
        return False
    reason = value.get("reason", "r")
    return isinstance(reason, str) and 0 < len(reason) <= MAX_REASON_CHARS


@HOSTILE
@given(body=_rejected_bodies())
@example(body=b'{"reason": "\\ud800"}')  # was a 500 (SQLite cannot store a lone surrogate)
@example(body=b'{"reason": "\xed\xa0\x80"}')  # the same, as UTF-8 bytes
@example(body=b'{"reason": ""}')
@example(body=b"[" * 50_000)
def test_cancel_bodies(hostile: Hostile, body: bytes) -> None:
    """Any body to cancel a finished run: 409 if the body is fine, else 400; nothing changes.
    A sleeping run sent a bad body stays asleep."""
    before = hostile.state()
    response = hostile.client.post(
        f"/api/runs/{hostile.completed}/cancel",
        content=body,
        headers={"content-type": "application/json"},
    )
    if _cancel_accepts(body):
        code, message = assert_rejected(hostile, response, before, 409)
        assert code == "run_finished" and hostile.completed in message
        return
    assert_rejected(hostile, response, before, 400)
    response = hostile.client.post(
        f"/api/runs/{hostile.sleeping}/cancel",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert_rejected(hostile, response, before, 400)
    assert hostile.server.get(f"/api/runs/{hostile.sleeping}")["status"] == "sleeping"


rerun_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "from_step": st.sampled_from(["one", "three", "nope", "", "two:1"]) | json_values,
            "output": json_values,
            "extra": json_values,
        },
    ),
)


def _rerun_expectation(body: Any) -> tuple[int, str | None]:
    """SPEC's rerun contract: ``(status, code)`` for a JSON ``body`` (``null`` is not an
    object: only no body at all means none)."""
    if not isinstance(body, dict):
        return 400, "invalid_body"
    from_step = body.get("from_step")
    if from_step is not None and not isinstance(from_step, str):
        return 400, "invalid_body"
    if "output" in body and from_step is None:
        return 400, "invalid_body"
    if from_step is not None and from_step not in ("one", "two", "three"):
        return 422, "unknown_step"
    return 200, None


@FEW
@given(body=rerun_bodies)
@example(body={"from_step": "three", "output": "\ud800"})  # was a 500
@example(body={"from_step": "nope", "output": 1})
@example(body={"output": 1})
@example(body=[1])
def test_rerun_bodies(hostile: Hostile, body: Any) -> None:
    """Reruns of a completed run: valid bodies start a run; others are a 4xx naming the
    problem (the step, the field) and start nothing."""
    if isinstance(body, dict) and body.get("from_step") == "two":
        body = {**body, "from_step": "one"}  # replacing 'two' fails 'three' (and retries)
    content = json.dumps(body).encode()
    expected, code = _rerun_expectation(body)
    if not strict_json(content)[0]:
        expected, code = 400, "invalid_json"
    before = hostile.state()
    response = hostile.client.post(
        f"/api/runs/{hostile.completed}/rerun",
        content=content,
        headers={"content-type": "application/json"},
    )
    if expected == 200:
        assert response.status_code == 200, response.text
        new = response.json()["run_id"]
        hostile.server.wait_run(new, "completed")
        return
    got, message = assert_rejected(hostile, response, before, expected)
    assert got == code, message
    if code == "unknown_step":
        assert repr(body["from_step"]) in message and "one, two, three" in message


LIMIT_OK = re.compile(r"[0-9]+")


def _limit_ok(raw: str) -> bool:
    return raw == "" or (LIMIT_OK.fullmatch(raw) is not None and 1 <= int(raw) <= 1000)


@HOSTILE
@given(
    limit=st.text(max_size=6) | st.integers(-5, 1005).map(str),
    path=st.sampled_from(["/api/runs", "/api/events"]),
)
@example(limit="²", path="/api/runs")  # was a 500: '²'.isdigit() but int('²') fails
@example(limit="١٠", path="/api/events")  # Arabic-Indic digits
@example(limit="1_0", path="/api/runs")
@example(limit=" 5", path="/api/events")
def test_limits(hostile: Hostile, limit: str, path: str) -> None:
    before = hostile.state()
    response = hostile.client.get(path, params={"limit": limit})
    if _limit_ok(limit):
        assert response.status_code == 200, response.text
        key = "runs" if path == "/api/runs" else "events"
        assert len(response.json()[key]) <= (int(limit) if limit else 50)
        return
    code, message = assert_rejected(hostile, response, before, 400)
    assert code == "invalid_parameter" and "'limit'" in message and "1 to 1000" in message


@HOSTILE
@given(cursor=st.text(min_size=1, max_size=30), status=st.text(max_size=12))
@example(cursor="\x00", status="")
@example(cursor="'; DROP TABLE runs; --", status="completed")
@example(cursor="x", status="COMPLETED")
def test_cursors_and_statuses(hostile: Hostile, cursor: str, status: str) -> None:
    """An unknown cursor or a status outside SPEC's list: 400 naming the parameter."""
    before = hostile.state()
    response = hostile.client.get("/api/runs", params={"cursor": cursor, "status": status})
    code, message = assert_rejected(hostile, response, before, 400)
    assert code == "invalid_parameter"
    if status and status not in STATUSES:
        assert "'status'" in message and all(s in message for s in STATUSES)
    else:
        assert "'cursor'" in message and repr(cursor) in message


@FEW
@given(name=st.text(max_size=20), function=st.text(max_size=20))
def test_any_name_and_function_filter(hostile: Hostile, name: str, function: str) -> None:
    """Free-text filters are only filters: any value is a 200 with a (maybe empty) list."""
    events = hostile.client.get("/api/events", params={"name": name})
    assert events.status_code == 200, events.text
    runs = hostile.client.get("/api/runs", params={"function": function})
    assert runs.status_code == 200, runs.text
    if function and function not in ("chain", "sleeper"):
        assert runs.json()["runs"] == []


def test_rerun_output_over_the_step_limit_is_413(hostile: Hostile) -> None:
    """A replaced step output over 4 MB: 413 naming the limit; no run is started."""
    before = hostile.state()
    body = {"from_step": "three", "output": "z" * (4 * 1024 * 1024 + 1)}
    response = hostile.client.post(f"/api/runs/{hostile.completed}/rerun", json=body)
    code, message = assert_rejected(hostile, response, before, 413)
    assert code == "output_too_large" and "limit" in message
