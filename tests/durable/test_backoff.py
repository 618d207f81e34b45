import random
from datetime import timedelta

import pytest

from durable._define.backoff import (
    DEFAULT_BACKOFF,
    ExponentialBackoff,
    ScheduleBackoff,
    fixed_backoff,
    parse_backoff,
)
from durable._errors import ConfigError

DEFAULT_SECONDS = [15, 30, 60, 120, 300, 600, 1200, 2400, 3600, 7200, 7200, 7200]


def rng() -> random.Random:
    return random.Random(1234)


def test_default_schedule_with_up_to_30s_jitter() -> None:
    r = rng()
    for failures, base in enumerate(DEFAULT_SECONDS, start=1):
        for _ in range(20):
            delay = DEFAULT_BACKOFF.delay(failures, r).total_seconds()
            assert base <= delay <= base + 30


def test_default_jitter_is_random_but_seeded() -> None:
    first = [DEFAULT_BACKOFF.delay(1, random.Random(7)) for _ in range(3)]
    assert len(set(first)) == 1  # same seed, same delay
    r = rng()
    spread = {DEFAULT_BACKOFF.delay(1, r) for _ in range(20)}
    assert len(spread) > 1


def test_none_is_the_default() -> None:
    assert parse_backoff(None, function_id="f") is DEFAULT_BACKOFF


def test_list_schedule_repeats_the_last_without_jitter() -> None:
    backoff = parse_backoff(["100ms", "1s", "10s"], function_id="f")
    delays = [backoff.delay(n, rng()) for n in range(1, 6)]
    assert delays == [
        timedelta(milliseconds=100),
        timedelta(seconds=1),
        timedelta(seconds=10),
        timedelta(seconds=10),
        timedelta(seconds=10),
    ]


def test_exponential() -> None:
    backoff = parse_backoff({"initial": "1s", "max": "10s", "factor": 2}, function_id="f")
    assert backoff == ExponentialBackoff(
        initial=timedelta(seconds=1), maximum=timedelta(seconds=10), factor=2.0, jitter=0.0
    )
    seconds = [backoff.delay(n, rng()).total_seconds() for n in range(1, 7)]
    assert seconds == [1, 2, 4, 8, 10, 10]
    assert backoff.delay(10_000, rng()) == timedelta(seconds=10)  # no overflow


def test_exponential_jitter_is_a_fraction_of_the_delay() -> None:
    backoff = parse_backoff(
        {"initial": "10s", "max": "10m", "factor": 3, "jitter": 0.2}, function_id="f"
    )
    r = rng()
    seen = set()
    for _ in range(50):
        delay = backoff.delay(2, r).total_seconds()
        assert 30 <= delay <= 36
        seen.add(delay)
    assert len(seen) > 1


def test_exponential_defaults() -> None:
    backoff = parse_backoff({}, function_id="f")
    assert backoff.delay(1, rng()) == timedelta(seconds=1)
    assert backoff.delay(100, rng()) == timedelta(hours=2)


def test_factor_one_is_constant() -> None:
    backoff = parse_backoff({"initial": "5s", "factor": 1}, function_id="f")
    assert {backoff.delay(n, rng()) for n in (1, 5, 50)} == {timedelta(seconds=5)}


def test_fixed_backoff() -> None:
    backoff = fixed_backoff(timedelta(seconds=1))
    assert [backoff.delay(n, rng()) for n in (1, 2, 30)] == [timedelta(seconds=1)] * 3
    assert fixed_backoff("250ms").delay(3, rng()) == timedelta(milliseconds=250)


def test_failures_start_at_one() -> None:
    with pytest.raises(ValueError):
        DEFAULT_BACKOFF.delay(0, rng())
    with pytest.raises(ValueError):
        parse_backoff({}, function_id="f").delay(0, rng())


def test_empty_schedule_is_impossible() -> None:
    with pytest.raises(ValueError):
        ScheduleBackoff(delays=())


def test_a_backoff_object_passes_through() -> None:
    backoff = fixed_backoff(timedelta(seconds=2))
    assert parse_backoff(backoff, function_id="f") is backoff


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ([], "1 to"),
        (["1s", "soon"], "item 1"),
        (["1s", -5], "item 1"),
        ({"initial": "1s", "cap": "1m"}, "'cap'"),
        ({"initial": "1m", "max": "1s"}, "shorter"),
        ({"initial": "x"}, "'x'"),
        ({"factor": 0.5}, "factor"),
        ({"factor": True}, "factor"),
        ({"factor": "2"}, "factor"),
        ({"factor": float("nan")}, "factor"),
        ({"jitter": 1.5}, "jitter"),
        ({"jitter": -0.1}, "jitter"),
        ("1s", "list of durations"),
        (5, "list of durations"),
    ],
)
def test_invalid_backoff(value: object, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_backoff(value, function_id="f")
    assert fragment in str(info.value)
    assert info.value.function_id == "f"
    assert info.value.field == "backoff"
