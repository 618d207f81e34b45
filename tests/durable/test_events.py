"""Event validation (``validate_event`` / ``validate_events``) and the ``Event`` record."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest

from durable import DurableError, Event, InvalidEventError
from durable._define.events import validate_event, validate_events
from durable._limits import MAX_EVENT_BYTES, MAX_EVENT_DEPTH

NOW_MS = 1_700_000_000_000


def check(raw: object, field: str | None, *, index: int | None = None) -> InvalidEventError:
    with pytest.raises(InvalidEventError) as info:
        if index is None:
            validate_event(raw, now_ms=NOW_MS)
        else:
            validate_event(raw, now_ms=NOW_MS, index=index)
    error = info.value
    assert error.field == field
    assert error.index == index
    if field is not None:
        assert f"field {field!r}" in str(error)
    return error


# --------------------------------------------------------------------------- valid events


def test_fills_id_and_ts() -> None:
    event = validate_event({"name": "order/created", "data": {"orderId": "o1"}}, now_ms=NOW_MS)
    assert event.name == "order/created"
    assert event.data == {"orderId": "o1"}
    assert event.ts == NOW_MS
    assert isinstance(event.id, str) and len(event.id) == 26
    assert event.user is None
    other = validate_event({"name": "order/created"}, now_ms=NOW_MS)
    assert other.id != event.id


def test_filled_ids_sort_by_time() -> None:
    earlier = validate_event({"name": "a/b"}, now_ms=NOW_MS)
    later = validate_event({"name": "a/b"}, now_ms=NOW_MS + 1)
    assert earlier.id < later.id


def test_keeps_given_id_ts_and_user() -> None:
    raw = {"name": "a/b", "data": {"x": 1}, "id": "evt-1", "ts": 0, "user": {"id": "u1"}}
    event = validate_event(raw, now_ms=NOW_MS)
    assert event == Event(name="a/b", data={"x": 1}, id="evt-1", ts=0, user={"id": "u1"})


@pytest.mark.parametrize("raw", [{"name": "a/b"}, {"name": "a/b", "data": None}])
def test_missing_data_is_empty(raw: dict[str, Any]) -> None:
    assert validate_event(raw, now_ms=NOW_MS).data == {}


def test_data_is_copied() -> None:
    data = {"x": 1}
    event = validate_event({"name": "a/b", "data": data}, now_ms=NOW_MS)
    data["x"] = 2
    data["y"] = 3
    assert event.data == {"x": 1}


def test_version_field_is_accepted() -> None:
    event = validate_event({"name": "a/b", "v": "2024-01-01"}, now_ms=NOW_MS)
    assert event.name == "a/b"


def test_an_event_object_is_accepted_as_is() -> None:
    event = Event(name="a/b", data={"x": 1}, id="evt-1", ts=5)
    assert validate_event(event, now_ms=NOW_MS) == event


def test_an_event_object_without_id_gets_one() -> None:
    """``durable.Event(name=..., data=...)`` is the public way to build an event for
    ``app.send`` / ``TestEngine.send``; its defaults (id ``""``, ts ``0``) mean "unset"."""
    event = validate_event(Event(name="a/b", data={"x": 1}), now_ms=NOW_MS)
    assert event.name == "a/b" and event.data == {"x": 1}
    assert len(event.id) == 26
    assert event.ts == NOW_MS


# --------------------------------------------------------------------------- bad events


@pytest.mark.parametrize("raw", [None, "a/b", 3, ["a/b"], ("name", "a/b")])
def test_rejects_non_objects(raw: object) -> None:
    error = check(raw, None)
    assert "object" in str(error)


@pytest.mark.parametrize(
    "raw", [{}, {"data": {}}, {"name": ""}, {"name": "   "}, {"name": 3}, {"name": None}]
)
def test_rejects_missing_or_empty_name(raw: dict[str, Any]) -> None:
    check(raw, "name")


@pytest.mark.parametrize("data", [[1, 2], "x", 3, True])
def test_rejects_non_object_data(data: object) -> None:
    check({"name": "a/b", "data": data}, "data")


@pytest.mark.parametrize("ts", [True, False, -1, "1700000000000", 1.5, float("nan")])
def test_rejects_bad_ts(ts: object) -> None:
    error = check({"name": "a/b", "ts": ts}, "ts")
    assert "milliseconds" in str(error)


@pytest.mark.parametrize("event_id", ["", 3, ["x"], {"id": "x"}])
def test_rejects_bad_id(event_id: object) -> None:
    check({"name": "a/b", "id": event_id}, "id")


@pytest.mark.parametrize("user", ["u1", ["u1"], 3])
def test_rejects_bad_user(user: object) -> None:
    check({"name": "a/b", "user": user}, "user")


def test_unknown_field_is_named() -> None:
    error = check({"name": "a/b", "payload": {}}, "payload")
    assert "'payload'" in str(error)


def test_first_unknown_field_is_named() -> None:
    error = check({"name": "a/b", "zeta": 1, "extra": 2}, "extra")
    assert "'zeta'" in str(error)


@pytest.mark.parametrize(
    "data",
    [{"tags": {"a", "b"}}, {"when": object()}, {"x": math.nan}, {"x": math.inf}, {"b": b"x"}],
)
def test_rejects_data_that_is_not_json(data: dict[str, Any]) -> None:
    check({"name": "a/b", "data": data}, "data")


def test_error_types() -> None:
    with pytest.raises(InvalidEventError) as info:
        validate_event({"name": ""}, now_ms=NOW_MS)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, DurableError)
    assert info.value.code == "invalid_event"
    assert info.value.to_dict()["field"] == "name"


# --------------------------------------------------------------------------- size limit


def overhead_bytes() -> int:
    """Encoded size of the test event with an empty blob (id and ts are fixed-width)."""
    event = validate_event({"name": "a/b", "data": {"blob": ""}, "id": "e" * 26}, now_ms=NOW_MS)
    return len(json.dumps(event.to_dict(), separators=(",", ":")).encode())


def test_event_at_the_size_limit_is_accepted() -> None:
    blob = "x" * (MAX_EVENT_BYTES - overhead_bytes())
    event = validate_event({"name": "a/b", "data": {"blob": blob}, "id": "e" * 26}, now_ms=NOW_MS)
    assert len(event.data["blob"]) == len(blob)


def test_event_over_the_size_limit_names_the_limit() -> None:
    blob = "x" * (MAX_EVENT_BYTES - overhead_bytes() + 1)
    error = check({"name": "a/b", "data": {"blob": blob}, "id": "e" * 26}, "data")
    assert "512 KB" in str(error)
    assert str(MAX_EVENT_BYTES) in str(error)


def test_size_limit_counts_utf8_bytes() -> None:
    # Fewer characters than the limit, but two bytes each.
    blob = "é" * (MAX_EVENT_BYTES // 2)
    assert len(blob) < MAX_EVENT_BYTES
    error = check({"name": "a/b", "data": {"blob": blob}}, "data")
    assert "512 KB" in str(error)


# --------------------------------------------------------------------------- batches


def test_validate_events_takes_one_or_many() -> None:
    (single,) = validate_events({"name": "a/b"}, now_ms=NOW_MS)
    assert single.name == "a/b"
    many = validate_events(
        [{"name": "a/b"}, Event(name="c/d", id="x", ts=1), {"name": "e/f", "id": "y"}],
        now_ms=NOW_MS,
    )
    assert [e.name for e in many] == ["a/b", "c/d", "e/f"]
    assert many[1].id == "x" and many[2].id == "y"
    assert validate_events(({"name": "a/b"},), now_ms=NOW_MS)[0].name == "a/b"


def test_bad_item_in_a_list_names_its_index() -> None:
    with pytest.raises(InvalidEventError) as info:
        validate_events(
            [{"name": "a/b"}, {"name": "c/d"}, {"name": "e/f", "ts": -5}], now_ms=NOW_MS
        )
    assert info.value.index == 2
    assert info.value.field == "ts"
    assert "event #2" in str(info.value)


def test_non_object_item_in_a_list_names_its_index() -> None:
    with pytest.raises(InvalidEventError) as info:
        validate_events([{"name": "a/b"}, "c/d"], now_ms=NOW_MS)
    assert info.value.index == 1
    assert "event #1" in str(info.value)


@pytest.mark.parametrize("empty", [[], ()])
def test_empty_list_is_rejected(empty: object) -> None:
    with pytest.raises(InvalidEventError, match="at least one event"):
        validate_events(empty, now_ms=NOW_MS)


def test_single_event_errors_have_no_index() -> None:
    with pytest.raises(InvalidEventError) as info:
        validate_events({"name": ""}, now_ms=NOW_MS)
    assert info.value.index is None
    assert "event #" not in str(info.value)


# --------------------------------------------------------------------------- the record


@pytest.mark.parametrize(
    "event",
    [
        Event(name="a/b", data={"x": [1, {"y": None}]}, id="evt-1", ts=42),
        Event(name="a/b", data={}, id="evt-2", ts=0, user={"id": "u1"}),
    ],
)
def test_event_dict_round_trip(event: Event) -> None:
    raw = event.to_dict()
    assert Event.from_dict(raw) == event
    assert Event.from_dict(json.loads(json.dumps(raw))) == event


def test_to_dict_shape() -> None:
    assert Event(name="a/b", data={"x": 1}, id="i", ts=3).to_dict() == {
        "name": "a/b",
        "data": {"x": 1},
        "id": "i",
        "ts": 3,
    }
    assert Event(name="a/b", id="i", ts=3, user={"u": 1}).to_dict()["user"] == {"u": 1}


def test_from_dict_of_a_minimal_event() -> None:
    assert Event.from_dict({"name": "a/b"}) == Event(name="a/b", data={}, id="", ts=0)


def test_event_is_frozen() -> None:
    event = Event(name="a/b")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.name = "c/d"  # type: ignore[misc]


def _nested(levels: int) -> object:
    value: object = 0
    for _ in range(levels):
        value = [value]
    return value


def test_event_data_may_nest_64_levels_and_no_more() -> None:
    deepest = {"x": _nested(MAX_EVENT_DEPTH - 1)}  # data is level 1
    assert validate_event({"name": "a", "data": deepest}, now_ms=1).data == deepest
    for field in ("data", "user"):
        too_deep = {"x": _nested(MAX_EVENT_DEPTH)}
        with pytest.raises(InvalidEventError, match="nested too deeply") as info:
            validate_event({"name": "a", field: too_deep}, now_ms=1, index=2)
        assert info.value.field == field and info.value.index == 2
    # far past Python's recursion limit: still the named error, never a RecursionError
    with pytest.raises(InvalidEventError, match="at most 64 levels"):
        validate_event({"name": "a", "data": {"x": _nested(50_000)}}, now_ms=1)
