"""Hostile input to the event API (POST /api/events, POST /e/{key}) over real HTTP.

Each property sends what a broken or malicious client might, and checks: a valid event is
accepted and stored as sent (the round trip); anything else is a 4xx in the one error shape
whose message names the problem, stores nothing at all (not one changed row, committed or
not), and leaves the server serving.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from durable._define.events import MAX_TS_MS
from durable._limits import MAX_EVENT_BYTES, MAX_EVENT_DEPTH
from tests.support.hostile import (
    FEW,
    HOSTILE,
    Hostile,
    assert_rejected,
    invalid_utf8,
    json_objects,
    json_values,
    surrogate_escapes,
    wrong_types,
)

EVENT_PATHS = st.sampled_from(["/api/events", "/e/any-key"])
KNOWN_FIELDS = ("name", "data", "id", "ts", "user", "v")

# -- an independent oracle: SPEC section 1's event shape -----------------------------------


def bad_fields(raw: Any) -> list[str] | None:
    """The fields that make ``raw`` an invalid event (``[]`` if valid; None if not an object)."""
    if not isinstance(raw, dict):
        return None
    bad = [key for key in raw if key not in KNOWN_FIELDS]
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        bad.append("name")
    for field in ("data", "user"):
        if raw.get(field) is not None and not isinstance(raw[field], dict):
            bad.append(field)
    event_id = raw.get("id")
    if event_id is not None and (not isinstance(event_id, str) or not event_id):
        bad.append("id")
    ts = raw.get("ts")
    if ts is not None and (type(ts) is not int or not 0 <= ts <= MAX_TS_MS):
        bad.append("ts")
    return bad


names = st.text(min_size=1, max_size=30).filter(str.strip)

#: Event-like objects: every field either right or of a wrong type, sometimes an unknown one.
event_like = st.fixed_dictionaries(
    {},
    optional={
        "name": names | wrong_types,
        "data": json_objects | wrong_types,
        "id": st.text(max_size=12) | wrong_types,
        "ts": st.integers(min_value=-5, max_value=MAX_TS_MS + 5)
        | st.integers(min_value=0)
        | wrong_types,
        "user": json_objects | wrong_types,
        "v": json_values,
        "nam": json_values,
        "Data": json_values,
    },
)

valid_events = st.fixed_dictionaries(
    {"name": names},
    optional={
        "data": json_objects | st.none(),
        "id": st.text(min_size=1, max_size=12),
        "ts": st.integers(min_value=0, max_value=MAX_TS_MS),
        "user": json_objects | st.none(),
        "v": json_values,
    },
)


def unique(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` with its given id made unique (two events with one id: the second is ignored)."""
    if isinstance(event.get("id"), str) and event["id"]:
        return {**event, "id": f"{event['id']}-{uuid.uuid4().hex}"}
    return event


def encode(value: Any, ascii_only: bool = True) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode()


def post(client: httpx.Client, path: str, body: bytes, content_type: str | None = None) -> Any:
    headers = {"content-type": "application/json" if content_type is None else content_type}
    return client.post(path, content=body, headers=headers)


def stored_event(hostile: Hostile, event_id: str) -> Any:
    store: Any = hostile.server.ctx.store

    async def read() -> Any:
        return store.get_event(event_id)

    return hostile.server.call(read)


@pytest.fixture(autouse=True)
def _settled(hostile: Hostile) -> Iterator[None]:
    hostile.settle()
    yield
    hostile.assert_serving()


# -- the properties -----------------------------------------------------------------------


@HOSTILE
@given(body=json_values, path=EVENT_PATHS, ascii_only=st.booleans())
@example(body=42, path="/api/events", ascii_only=True)
@example(body=[], path="/api/events", ascii_only=True)
@example(body={"name": "a", "ts": 10**30}, path="/api/events", ascii_only=True)  # was a 500
def test_random_json(hostile: Hostile, body: Any, path: str, ascii_only: bool) -> None:
    """Any JSON value: accepted only if it is an event (or a non-empty list of them)."""
    before = hostile.state()
    response = post(hostile.client, path, encode(body, ascii_only))
    events = body if isinstance(body, list) else [body]
    oracle = [bad_fields(event) for event in events]
    if events and all(bad == [] for bad in oracle):
        assert response.status_code == 200, response.text
        assert len(response.json()["ids"]) == len(events)
    else:
        _, message = assert_rejected(hostile, response, before, 400)
        if isinstance(body, list) and len(body) > 1:
            first = next(i for i, bad in enumerate(oracle) if bad != [])
            assert f"event #{first}" in message


@HOSTILE
@given(batch=st.lists(event_like, min_size=1, max_size=3), path=EVENT_PATHS, as_list=st.booleans())
@example(batch=[{"name": "a", "ts": MAX_TS_MS + 1}], path="/api/events", as_list=False)
@example(batch=[{"name": "a", "ts": 2**63}], path="/e/k", as_list=False)  # was a 500
@example(batch=[{"name": "a"}, {"name": "b", "ts": 2**64}], path="/api/events", as_list=True)
def test_events_with_wrong_field_types(
    hostile: Hostile, batch: list[dict[str, Any]], path: str, as_list: bool
) -> None:
    """Each field right or wrong: a valid batch round-trips, an invalid one names a bad field."""
    batch = [unique(event) for event in batch]
    body: Any = batch if as_list or len(batch) > 1 else batch[0]
    before = hostile.state()
    response = post(hostile.client, path, encode(body))
    oracle = [bad_fields(event) for event in batch]
    if all(bad == [] for bad in oracle):
        assert response.status_code == 200, response.text
        ids = response.json()["ids"]
        assert len(ids) == len(batch)
        for event, event_id in zip(batch, ids, strict=True):
            record = stored_event(hostile, event_id)
            assert record is not None, event
            assert record.name == event["name"]
            assert record.data == (event.get("data") or {})
            assert record.user == event.get("user")
            if event.get("id") is not None:
                assert event_id == event["id"]
            if event.get("ts") is not None:
                assert record.ts == event["ts"]
        return
    code, message = assert_rejected(hostile, response, before, 400)
    assert code == "invalid_event"
    index = next(i for i, bad in enumerate(oracle) if bad != [])
    bad = oracle[index]
    assert bad is not None
    assert any(repr(field) in message for field in bad), (bad, message)
    if isinstance(body, list):
        assert f"event #{index}" in message


@FEW
@given(
    size=st.integers(min_value=MAX_EVENT_BYTES + 1024, max_value=MAX_EVENT_BYTES * 2),
    index=st.integers(min_value=0, max_value=2),
    path=EVENT_PATHS,
)
def test_huge_events_are_413(hostile: Hostile, size: int, index: int, path: str) -> None:
    """An event over 512 KB anywhere in a batch: 413 naming it; the others are not stored."""
    batch: list[dict[str, Any]] = [{"name": "hostile/small", "data": {"i": i}} for i in range(3)]
    batch[index] = {"name": "hostile/huge", "data": {"blob": "x" * size}}
    before = hostile.state()
    response = post(hostile.client, path, encode(batch))
    code, message = assert_rejected(hostile, response, before, 413)
    assert code == "event_too_large"
    assert f"event #{index}" in message and "512 KB" in message


@FEW
@given(size=st.integers(min_value=1, max_value=MAX_EVENT_BYTES - 1024), path=EVENT_PATHS)
def test_big_events_under_the_limit_are_accepted(hostile: Hostile, size: int, path: str) -> None:
    response = post(
        hostile.client, path, encode({"name": "hostile/big", "data": {"b": "y" * size}})
    )
    assert response.status_code == 200, response.text[:300]
    record = stored_event(hostile, response.json()["ids"][0])
    assert len(record.data["b"]) == size


def test_too_many_events_is_413(hostile: Hostile) -> None:
    before = hostile.state()
    response = post(hostile.client, "/api/events", encode([{"name": "a"}] * 5_001))
    code, message = assert_rejected(hostile, response, before, 413)
    assert code == "too_many_events" and "5001" in message


@FEW
@given(
    depth=st.integers(min_value=10_000, max_value=120_000),
    opener=st.sampled_from(["[", '{"a":']),
    inside_data=st.booleans(),
    path=EVENT_PATHS,
)
@example(depth=10_000, opener="[", inside_data=False, path="/api/events")
@example(depth=10_000, opener='{"a":', inside_data=True, path="/e/k")
def test_deeply_nested_json_is_400(
    hostile: Hostile, depth: int, opener: str, inside_data: bool, path: str
) -> None:
    """[[[[...]]]] thousands of levels deep: a 400, never a RecursionError or a dead server."""
    closer = "]" if opener == "[" else "}"
    nested = opener * depth + "0" + closer * depth
    text = f'{{"name": "hostile/deep", "data": {{"x": {nested}}}}}' if inside_data else nested
    before = hostile.state()
    response = post(hostile.client, path, text.encode())
    code, message = assert_rejected(hostile, response, before, 400)
    assert code == "invalid_json" and "nested too deeply" in message


@FEW
@given(
    depth=st.integers(min_value=1, max_value=5_000),
    opener=st.sampled_from(["[", '{"a":']),
    path=EVENT_PATHS,
)
@example(depth=MAX_EVENT_DEPTH - 1, opener="[", path="/api/events")  # the deepest accepted
@example(depth=MAX_EVENT_DEPTH, opener='{"a":', path="/api/events")  # one level too deep
@example(depth=960, opener="[", path="/api/events")  # near Python's recursion limit
@example(depth=2_040, opener='{"a":', path="/api/events")
def test_nested_events_are_rejected_past_the_limit_or_stay_viewable(
    hostile: Hostile, depth: int, opener: str, path: str
) -> None:
    """``data`` may hold MAX_EVENT_DEPTH levels (``data`` itself is one): deeper is a clean
    400 whatever the stack allows; anything accepted every view can render."""
    closer = "]" if opener == "[" else "}"
    nested = opener * depth + "0" + closer * depth
    text = f'{{"name": "hostile/nested", "data": {{"x": {nested}}}}}'
    before = hostile.state()
    response = post(hostile.client, path, text.encode())
    if depth + 1 > MAX_EVENT_DEPTH:
        _, message = assert_rejected(hostile, response, before, 400)
        assert "nested too deeply" in message
        return
    assert response.status_code == 200, response.text[:300]
    event_id = response.json()["ids"][0]
    listed = hostile.client.get("/api/events", params={"name": "hostile/nested", "limit": 5})
    assert listed.status_code == 200, listed.text[:300]
    assert listed.json()["events"][0]["id"] == event_id
    assert stored_event(hostile, event_id).data["x"] == json.loads(nested)


@HOSTILE
@given(
    event=valid_events,
    bad=invalid_utf8,
    where=st.floats(min_value=0, max_value=1),
    path=EVENT_PATHS,
)
def test_invalid_utf8_is_400(
    hostile: Hostile, event: dict[str, Any], bad: bytes, where: float, path: str
) -> None:
    """Bytes that are not UTF-8 anywhere in the body: 400 naming the byte offset."""
    text = json.dumps(event, ensure_ascii=False)
    cut = int(where * len(text))  # between two characters
    head = text[:cut].encode()
    body = head + bad + text[cut:].encode()
    at = len(head)
    before = hostile.state()
    response = post(hostile.client, path, body)
    code, message = assert_rejected(hostile, response, before, 400)
    assert code == "invalid_json"
    assert "not UTF-8 text" in message and f"at byte {at}" in message


@HOSTILE
@given(body=st.binary(max_size=300), path=EVENT_PATHS)
@example(body=b'{"name": "\xed\xa0\x80"}', path="/api/events")
@example(body=b"\xff\xfe{\x00}\x00", path="/api/events")
@example(body=b"\x00\x00\x00{", path="/api/events")
def test_random_bytes(hostile: Hostile, body: bytes, path: str) -> None:
    """Arbitrary bytes: a 4xx (they are essentially never an event), never a 5xx."""
    before = hostile.state()
    response = post(hostile.client, path, body)
    if response.status_code != 200:
        assert_rejected(hostile, response, before, 400)


@HOSTILE
@given(
    escape=surrogate_escapes,
    field=st.sampled_from(["name", "data value", "data key", "user", "id"]),
    path=EVENT_PATHS,
)
@example(escape="\\ud800", field="name", path="/api/events")
def test_lone_surrogates_are_400(hostile: Hostile, escape: str, field: str, path: str) -> None:
    """ "\\ud800" is valid JSON syntax but not text: it cannot be stored, so it is a 400."""
    s = f'"x{escape}y"'
    body = {
        "name": f'{{"name": {s}}}',
        "data value": f'{{"name": "a", "data": {{"k": [1, {s}]}}}}',
        "data key": f'{{"name": "a", "data": {{{s}: 1}}}}',
        "user": f'{{"name": "a", "user": {{"k": {s}}}}}',
        "id": f'{{"name": "a", "id": {s}}}',
    }[field]
    before = hostile.state()
    response = post(hostile.client, path, body.encode())
    code, message = assert_rejected(hostile, response, before, 400)
    assert code == "invalid_json" and "surrogate" in message


@FEW
@given(
    char=st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF, exclude_categories=["Cs"]),
    path=EVENT_PATHS,
)
def test_surrogate_pairs_are_text(hostile: Hostile, char: str, path: str) -> None:
    """An astral character escaped as a surrogate pair (how ensure_ascii writes it) is fine."""
    event = {"name": f"hostile/{char}", "data": {char: char}}
    response = post(hostile.client, path, encode(event, ascii_only=True))
    assert response.status_code == 200, response.text
    record = stored_event(hostile, response.json()["ids"][0])
    assert record.name == event["name"] and record.data == event["data"]


#: Types a web page may send without a preflight, and others: all refused (SPEC section 10).
OTHER_TYPES = st.sampled_from(
    [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/xml",
        "application/octet-stream",
        "application/jsonp",
        "application/json-seq",
        "text/json",
        "",
        "nonsense",
    ]
)
#: Ways to say JSON: parameters and case do not matter.
JSON_TYPES = st.sampled_from(
    [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/json;charset=latin-1",
        "application/json ; foo=bar",
    ]
)
NOT_JSON = st.sampled_from(
    [
        b"name=hostile%2Fform&data=x",
        b'--xyz\r\nContent-Disposition: form-data; name="name"\r\n\r\na\r\n--xyz--\r\n',
        b"<event name='hostile/xml'/>",
        b"name: hostile/yaml\ndata: {}\n",
        b"{'name': 'hostile/python'}",
        b'{"name": "a",}',
        b'{"name": "a"} {"name": "b"}',
        b'{"name": "a", "data": {"x": Infinity}}',
        b"undefined",
    ]
)


@HOSTILE
@given(content_type=JSON_TYPES, body=NOT_JSON, path=EVENT_PATHS)
def test_non_json_bodies_are_400(
    hostile: Hostile, content_type: str, body: bytes, path: str
) -> None:
    """Forms, XML, YAML, Python reprs, trailing commas said to be JSON: 400 'invalid JSON'."""
    before = hostile.state()
    response = post(hostile.client, path, body, content_type)
    code, message = assert_rejected(hostile, response, before, 400)
    assert code == "invalid_json" and "invalid JSON" in message


@HOSTILE
@given(content_type=OTHER_TYPES, body=NOT_JSON | valid_events.map(encode), path=EVENT_PATHS)
def test_other_types_are_403(hostile: Hostile, content_type: str, body: bytes, path: str) -> None:
    """The declared type is checked before the body (``curl -d`` and a web page's ``no-cors``
    fetch say form or text): not JSON, 403 and nothing stored, even for a valid event."""
    before = hostile.state()
    response = post(hostile.client, path, body, content_type)
    code, message = assert_rejected(hostile, response, before, 403)
    assert code == "unsupported_media_type" and "application/json" in message


@FEW
@given(content_type=JSON_TYPES, event=valid_events, path=EVENT_PATHS)
def test_a_json_event_is_accepted_with_any_json_type(
    hostile: Hostile, content_type: str, event: dict[str, Any], path: str
) -> None:
    """``application/json`` with any parameters (``charset``) and any case is accepted."""
    response = post(hostile.client, path, encode(unique(event)), content_type)
    assert response.status_code == 200, response.text


@FEW
@given(key=st.text(min_size=1, max_size=20).filter(lambda k: "/" not in k and k not in (".", "..")))
@example(key="%")
@example(key="\x00")
def test_any_inngest_event_key(hostile: Hostile, key: str) -> None:
    """The key of POST /e/{key} is not checked locally: any key, the same answers."""
    path = "/e/" + quote(key, safe="")
    response = post(hostile.client, path, encode({"name": "hostile/key"}))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == 200
    before = hostile.state()
    rejected = post(hostile.client, path, b"{")
    _, message = assert_rejected(hostile, rejected, before, 400)
    assert rejected.json()["status"] == 400 and "invalid JSON" in message
