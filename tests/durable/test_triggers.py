import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from durable._define.triggers import (
    CronTrigger,
    EventNameIndex,
    EventTrigger,
    event_name_matches,
    parse_cron,
    parse_trigger,
    validate_event_pattern,
)
from durable._errors import ConfigError, CronError, ExpressionError

# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("order/created", "order/created", True),
        ("order/created", "order/created2", False),
        ("order/*", "order/created", True),
        ("order/*", "order/item.added", True),
        ("order/*", "order/", False),
        ("order/*", "order", False),
        ("order/*", "orders/created", False),
        ("app/user.*", "app/user.signup", True),
        ("app/user.*", "app/users.signup", False),
        ("app/user.*", "app/user", False),
    ],
)
def test_event_name_matches(pattern: str, name: str, expected: bool) -> None:
    assert event_name_matches(pattern, name) is expected


@pytest.mark.parametrize("pattern", ["order/created", "order/*", "app/user.*", "Order Completed"])
def test_valid_patterns(pattern: str) -> None:
    assert validate_event_pattern(pattern) == pattern


@pytest.mark.parametrize(
    "pattern", ["", "  ", "*", "/*", "ord*er", "order*", "a/*/b", "a/**", " order/x", 3, None]
)
def test_invalid_patterns(pattern: object) -> None:
    with pytest.raises(ConfigError) as info:
        validate_event_pattern(pattern, function_id="f", field="triggers[0]")
    assert info.value.function_id == "f"
    assert info.value.field == "triggers[0]"


def test_index_lookup() -> None:
    index: EventNameIndex[str] = EventNameIndex()
    index.add("order/created", "exact")
    index.add("order/*", "order-any")
    index.add("order/item.*", "item-any")
    index.add("user/*", "user-any")
    assert index.lookup("order/created") == ["exact", "order-any"]
    assert index.lookup("order/item.added") == ["item-any", "order-any"]
    assert index.lookup("order/") == []
    assert index.lookup("order/item.") == ["order-any"]
    assert index.lookup("billing/paid") == []
    assert len(index) == 4


def test_index_remove() -> None:
    index: EventNameIndex[int] = EventNameIndex()
    index.add("order/*", 1)
    index.add("order/*", 2)
    index.add("order/*", 2)  # filed once
    index.add("order/created", 3)
    assert index.lookup("order/created") == [3, 1, 2]
    assert index.remove("order/*", 1) is True
    assert index.remove("order/*", 1) is False
    assert index.remove("order/created", 1) is False
    assert index.remove("order/created", 3) is True
    assert index.lookup("order/created") == [2]
    assert index.remove("order/*", 2) is True
    assert index.lookup("order/created") == []
    assert len(index) == 0


def test_index_rejects_bad_patterns() -> None:
    index: EventNameIndex[int] = EventNameIndex()
    with pytest.raises(ConfigError):
        index.add("ord*er", 1)


def test_index_lookup_does_not_scan() -> None:
    index: EventNameIndex[int] = EventNameIndex()
    for i in range(10_000):
        index.add(f"order/{i}", i)
        index.add(f"tenant{i}/*", i)
    index.add("order/*", -1)
    start = time.perf_counter()
    for _ in range(1000):
        found = index.lookup("order/42")
    per_lookup = (time.perf_counter() - start) / 1000
    assert found == [42, -1]
    assert per_lookup < 100e-6  # a scan of 20,000 patterns takes milliseconds


# --------------------------------------------------------------------------- cron


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_cron_in_utc() -> None:
    schedule = parse_cron("0 12 * * 5")
    assert schedule.timezone == "UTC"
    assert schedule.source == "0 12 * * 5"
    # 2024-03-01 is a Friday.
    assert schedule.next_after(utc(2024, 3, 1, 11, 59)) == utc(2024, 3, 1, 12)
    assert schedule.next_after(utc(2024, 3, 1, 12)) == utc(2024, 3, 8, 12)  # strictly after
    assert schedule.next_after(datetime(2024, 3, 1, 11)) == utc(2024, 3, 1, 12)  # naive = UTC


def test_cron_with_timezone_follows_dst() -> None:
    schedule = parse_cron("TZ=Europe/Paris 0 12 * * 5")
    assert schedule.timezone == "Europe/Paris"
    assert schedule.source == "TZ=Europe/Paris 0 12 * * 5"
    winter = schedule.next_after(utc(2024, 3, 25))
    summer = schedule.next_after(winter)
    assert winter == utc(2024, 3, 29, 11)  # noon CET
    assert summer == utc(2024, 4, 5, 10)  # noon CEST
    assert summer.tzinfo is UTC


def test_cron_tz_prefix_alias() -> None:
    schedule = parse_cron("CRON_TZ=America/New_York 30 9 * * 1-5")
    assert schedule.timezone == "America/New_York"
    assert schedule.next_after(utc(2024, 7, 1)) == utc(2024, 7, 1, 13, 30)


def test_cron_skipped_time_fires_at_the_jump() -> None:
    schedule = parse_cron("TZ=Europe/Paris 30 2 * * *")
    # 2024-03-31: clocks jump from 02:00 to 03:00 CEST (01:00 UTC).
    assert schedule.next_after(utc(2024, 3, 30, 12)) == utc(2024, 3, 31, 1)
    assert schedule.next_after(utc(2024, 3, 31, 1)) == utc(2024, 4, 1, 0, 30)


def test_cron_repeated_time_fires_once() -> None:
    schedule = parse_cron("TZ=Europe/Paris 30 2 * * *")
    # 2024-10-27: 02:30 happens at 00:30 UTC (CEST) and again at 01:30 UTC (CET).
    first = schedule.next_after(utc(2024, 10, 26, 12))
    assert first == utc(2024, 10, 27, 0, 30)
    assert schedule.next_after(first) == utc(2024, 10, 28, 1, 30)


def test_hourly_cron_keeps_every_real_hour_when_clocks_go_back() -> None:
    schedule = parse_cron("TZ=Europe/Paris 0 * * * *")
    fires = [utc(2024, 10, 26, 23)]
    for _ in range(3):
        fires.append(schedule.next_after(fires[-1]))
    gaps = {b - a for a, b in pairwise(fires)}
    assert gaps == {timedelta(hours=1)}


def test_cron_aliases() -> None:
    assert parse_cron("@daily").next_after(utc(2024, 1, 1, 5)) == utc(2024, 1, 2)
    assert parse_cron("TZ=Asia/Tokyo @daily").next_after(utc(2024, 1, 1, 5)) == utc(2024, 1, 1, 15)


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("", "empty"),
        ("* * *", "5 fields"),
        ("0 0 * * * *", "5 fields"),
        ("61 * * * *", "61"),
        ("a b c d e", "5 fields"),
        ("0 0 30 2 *", "never fires"),
        ("@reboot", "alias"),
        ("TZ=Mars/Olympus 0 12 * * 5", "unknown time zone"),
        ("TZ=../../etc 0 12 * * 5", "unknown time zone"),
        ("TZ= 0 12 * * 5", "time zone"),
        ("TZ=UTC", "empty"),
    ],
)
def test_invalid_cron(expr: str, fragment: str) -> None:
    with pytest.raises(CronError) as info:
        parse_cron(expr, function_id="f", field="triggers[1]")
    assert fragment in str(info.value)
    assert repr(expr) in str(info.value)
    assert info.value.function_id == "f"
    assert info.value.field == "triggers[1]"


# --------------------------------------------------------------------------- triggers


def test_parse_event_trigger() -> None:
    trigger = parse_trigger({"event": "order/created"}, function_id="f", index=0)
    assert trigger == EventTrigger(event="order/created")


def test_parse_event_trigger_with_condition() -> None:
    trigger = parse_trigger(
        {"event": "user/*", "if": "event.data.amount > 100"}, function_id="f", index=0
    )
    assert isinstance(trigger, EventTrigger)
    assert trigger.if_ is not None
    assert trigger.matches({"name": "user/action", "data": {"amount": 150}})
    assert not trigger.matches({"name": "user/action", "data": {"amount": 50}})
    assert not trigger.matches({"name": "order/action", "data": {"amount": 150}})


def test_parse_cron_trigger() -> None:
    trigger = parse_trigger({"cron": "TZ=Europe/Paris 0 12 * * 5"}, function_id="f", index=2)
    assert isinstance(trigger, CronTrigger)
    assert trigger.cron == "TZ=Europe/Paris 0 12 * * 5"
    assert trigger.schedule.timezone == "Europe/Paris"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("order/created", "must be an object"),
        ({}, "needs 'event'"),
        ({"event": "a/b", "cron": "* * * * *"}, "not both"),
        ({"event": "a/b", "when": "x"}, "'when'"),
        ({"cron": "* * * * *", "if": "true"}, "'if'"),
        ({"event": ""}, "empty"),
        ({"event": "ord*er"}, "'*'"),
        ({"event": 5}, "string"),
    ],
)
def test_invalid_triggers(raw: object, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_trigger(raw, function_id="f", index=3)
    assert fragment in str(info.value)
    assert info.value.function_id == "f"
    assert info.value.field == "triggers[3]"


def test_bad_condition_names_the_if_field() -> None:
    with pytest.raises(ExpressionError) as info:
        parse_trigger({"event": "a/b", "if": "event.data.x =="}, function_id="f", index=1)
    assert info.value.field == "triggers[1].if"
    assert info.value.function_id == "f"
    assert info.value.position == (1, 16)


def test_trigger_conditions_only_see_event() -> None:
    with pytest.raises(ExpressionError, match="'async'"):
        parse_trigger({"event": "a/b", "if": "async.data.x == 1"}, function_id="f", index=0)
    with pytest.raises(ExpressionError, match="true or false"):
        parse_trigger({"event": "a/b", "if": '"x" + "y"'}, function_id="f", index=0)


def test_bad_cron_trigger_is_a_cron_error() -> None:
    with pytest.raises(CronError) as info:
        parse_trigger({"cron": "TZ=Nowhere/City 0 12 * * 5"}, function_id="f", index=0)
    assert info.value.field == "triggers[0]"
