from datetime import UTC, datetime, timedelta, timezone

import pytest

from durable._define.durations import format_duration, human_duration, parse_duration, parse_instant
from durable._errors import InvalidDurationError, InvalidInstantError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("250ms", timedelta(milliseconds=250)),
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1m30s500ms", timedelta(minutes=1, seconds=30, milliseconds=500)),
        (" 1h 30m ", timedelta(hours=1, minutes=30)),
        ("1.5h", timedelta(minutes=90)),
        ("0.1s", timedelta(milliseconds=100)),
        ("0s", timedelta(0)),
        ("2d3h", timedelta(days=2, hours=3)),
    ],
)
def test_parse_duration_strings(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (30, timedelta(seconds=30)),
        (0.25, timedelta(milliseconds=250)),
        (0, timedelta(0)),
        (timedelta(minutes=3), timedelta(minutes=3)),
    ],
)
def test_parse_duration_numbers_and_timedeltas(
    value: int | float | timedelta, expected: timedelta
) -> None:
    assert parse_duration(value) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "5 minutes",
        "5min",
        "30",
        "10y",
        "5M",
        "-5s",
        "1h-30m",
        "30m1h",
        "1h1h",
        "h",
        "1h30",
        -1,
        -0.5,
        timedelta(seconds=-1),
        float("nan"),
        float("inf"),
        True,
        None,
        [1],
    ],
)
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(InvalidDurationError) as info:
        parse_duration(bad)  # type: ignore[arg-type]
    message = str(info.value)
    assert repr(bad) in message
    assert "ms, s, m, h, d, w" in message


def test_invalid_duration_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="'5 minutes'"):
        parse_duration("5 minutes")


def test_huge_durations_are_rejected_not_overflowing() -> None:
    with pytest.raises(InvalidDurationError, match="too large"):
        parse_duration("99999999999w")
    with pytest.raises(InvalidDurationError, match="too large"):
        parse_duration(1e20)


@pytest.mark.parametrize(
    ("td", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(milliseconds=250), "250ms"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(days=2, hours=3), "2d3h"),
        (timedelta(weeks=1), "7d"),
        (timedelta(minutes=1, seconds=30, milliseconds=500), "1m30s500ms"),
        (timedelta(microseconds=1500), "1.5ms"),
        (timedelta(seconds=-90), "-1m30s"),
    ],
)
def test_format_duration(td: timedelta, text: str) -> None:
    assert format_duration(td) == text


@pytest.mark.parametrize(
    "td",
    [timedelta(days=3, seconds=7, microseconds=123_456), timedelta(hours=25), timedelta(0)],
)
def test_format_then_parse_round_trips(td: timedelta) -> None:
    assert parse_duration(format_duration(td)) == td


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T14:00:00+02:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T12:00:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        (datetime(2024, 5, 1, 12), datetime(2024, 5, 1, 12, tzinfo=UTC)),
        (
            datetime(2024, 5, 1, 7, tzinfo=timezone(timedelta(hours=-5))),
            datetime(2024, 5, 1, 12, tzinfo=UTC),
        ),
    ],
)
def test_parse_instant(value: datetime | str, expected: datetime) -> None:
    parsed = parse_instant(value)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("bad", ["", "tomorrow", "2024-13-01T00:00:00Z", 1714564800, None])
def test_parse_instant_rejects(bad: object) -> None:
    with pytest.raises(InvalidInstantError) as info:
        parse_instant(bad)  # type: ignore[arg-type]
    assert repr(bad) in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("seconds", "precise", "compact"),
    [
        (None, "-", "-"),
        (-0.5, "0ms", "0ms"),  # clock skew
        (0, "0ms", "0ms"),
        (0.0004, "<1ms", "<1ms"),
        (0.25, "250ms", "250ms"),
        (4.25, "4.25s", "4.2s"),
        (42, "42.00s", "42s"),
        (185, "3m05s", "3m05s"),
        (7800, "2h10m", "2h10m"),
        (2e5, "2d07h", "2d7h"),
        # rounded before the unit is chosen: never "1000ms", "60.00s" or "10.0s"
        (0.9996, "1.00s", "1.0s"),
        (9.96, "9.96s", "10s"),
        (59.996, "1m00s", "1m00s"),
        (3599.7, "1h00m", "1h00m"),
    ],
)
def test_human_duration(seconds: float | None, precise: str, compact: str) -> None:
    assert human_duration(seconds) == precise  # the CLI
    assert human_duration(seconds, compact=True) == compact  # the inspector's narrow columns
    assert human_duration(None, missing="—") == "—"
