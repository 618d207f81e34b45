"""The timeline layout both faces draw (durable._timeline via durable.presentation): the
shared axis, the span of a step and the segments of its bar; and the time helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from durable.presentation import (
    Axis,
    Segment,
    attempt_segment,
    bar_glyph,
    bar_style,
    elapsed,
    error_line,
    format_moment,
    make_axis,
    parse_time,
    run_end,
    step_segments,
    step_span,
)

T0 = datetime(2025, 1, 31, 12, 0, 0, tzinfo=UTC)
RUN_OK = (bar_glyph("run"), bar_style("run", "ok"))
RUN_FAILED = (bar_glyph("run"), bar_style("run", "failed"))
RUN_PENDING = (bar_glyph("run"), bar_style("run", "pending"))
BACKOFF = (bar_glyph("backoff"), bar_style("backoff", "failed"))


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def moment(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def attempt(start: float, end: float | None, error: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"started_at": at(start), "ended_at": None if end is None else at(end), "error": error}


def drawn(segments: list[Segment]) -> list[tuple[str, str, float, float]]:
    return [
        (s.char, s.style, (s.start - T0).total_seconds(), (s.end - T0).total_seconds())
        for s in segments
    ]


# -- the axis ----------------------------------------------------------------------------------


def test_the_axis_maps_times_to_cells_and_every_interval_gets_one() -> None:
    axis = Axis(T0, moment(10), 10)
    assert list(axis.cells(moment(0), moment(2))) == [0, 1]
    assert list(axis.cells(moment(8), moment(10))) == [8, 9]
    assert list(axis.cells(moment(5), moment(5))) == [5]  # an instant
    assert list(axis.cells(moment(-5), moment(30))) == list(range(10))  # clamped
    assert axis.cell(moment(99)) == 9


def test_paint_lays_later_segments_over_earlier_ones() -> None:
    axis = Axis(T0, moment(10), 10)
    under, over = Segment(T0, moment(10), "·", "red"), Segment(moment(2), moment(4), "█", "g")
    cells = axis.paint([under, over])
    assert "".join(glyph for glyph, _ in cells) == "··██······"
    assert cells[2] == ("█", "g") and cells[0] == ("·", "red")


def test_the_axis_covers_the_run_every_step_and_now_while_it_runs() -> None:
    now = moment(30)
    running = {
        "status": "running",
        "started_at": at(5),
        "steps": [{"kind": "run", "status": "completed", "started_at": at(1), "ended_at": at(3)}],
    }
    axis = make_axis(running, 2, now)
    assert (axis.start, axis.end, axis.width) == (moment(1), now, 4)  # at least four cells
    done = {"status": "completed", "started_at": at(5), "ended_at": at(9), "steps": []}
    assert (make_axis(done, 40, now).start, make_axis(done, 40, now).end) == (moment(5), moment(9))
    instant = make_axis({"status": "completed", "started_at": at(5), "ended_at": at(5)}, 40, now)
    assert instant.end - instant.start == timedelta(milliseconds=1)
    assert instant.span == 0.001


# -- spans ------------------------------------------------------------------------------------


def test_a_pending_step_runs_to_now_or_to_the_end_of_its_run() -> None:
    sleeping = {"kind": "sleep", "status": "sleeping", "started_at": at(2)}
    assert step_span(sleeping, moment(20)) == (moment(2), moment(20))
    assert step_span(sleeping, moment(20), moment(7)) == (moment(2), moment(7))
    done = {"kind": "run", "status": "completed", "attempts": [attempt(1, 2), attempt(4, 6)]}
    assert step_span(done, moment(20)) == (moment(1), moment(6))  # from its attempts
    skewed = {"status": "completed", "started_at": at(5), "ended_at": at(3)}
    assert step_span(skewed, moment(20)) == (moment(5), moment(5))  # never ends before it starts


def test_run_end_is_known_only_once_the_run_is_over() -> None:
    assert run_end({"status": "running", "started_at": at(1)}) is None
    assert run_end({"status": "failed", "started_at": at(1), "ended_at": at(4)}) == moment(4)
    assert run_end({"status": "cancelled", "started_at": at(1)}) == moment(1)


# -- segments ---------------------------------------------------------------------------------


def test_retried_step_shows_backoff_under_its_attempts_unless_asked_not_to() -> None:
    step = {
        "kind": "run",
        "status": "completed",
        "attempts": [attempt(0, 1, {"name": "E", "message": "boom"}), attempt(3, 4)],
    }
    assert drawn(step_segments(step, moment(10))) == [
        (*BACKOFF, 0, 4),
        (*RUN_FAILED, 0, 1),
        (*RUN_OK, 3, 4),
    ]
    assert drawn(step_segments(step, moment(10), backoff=False)) == [
        (*RUN_FAILED, 0, 1),
        (*RUN_OK, 3, 4),
    ]


def test_a_running_step_is_pending_to_now_with_its_current_cell() -> None:
    fresh = {"kind": "run", "status": "running", "started_at": at(2), "attempts": []}
    assert drawn(step_segments(fresh, moment(5))) == [(*RUN_PENDING, 2, 5), (*RUN_PENDING, 5, 5)]
    open_attempt = {"kind": "run", "status": "running", "attempts": [attempt(1, None)]}
    assert drawn(step_segments(open_attempt, moment(5))) == [
        (*RUN_PENDING, 1, 5),
        (*RUN_PENDING, 1, 5),
        (*RUN_PENDING, 5, 5),
    ]


def test_sleeps_waits_and_invokes_are_one_span_in_their_own_glyph() -> None:
    now = moment(10)
    sleep = {"kind": "sleep", "status": "completed", "started_at": at(1), "ended_at": at(4)}
    slept = (bar_glyph("sleep"), bar_style("sleep", "ok"))
    assert drawn(step_segments(sleep, now)) == [(*slept, 1, 4)]
    got = {"kind": "wait_for_event", "status": "completed", "started_at": at(1), "ended_at": at(2)}
    assert step_segments({**got, "output": {"name": "x"}}, now)[0].style == bar_style("wait", "ok")
    timed_out = step_segments({**got, "output": None}, now)[0]
    assert (timed_out.char, timed_out.style) == (bar_glyph("wait"), bar_style("wait", "stopped"))
    waiting = {"kind": "wait_for_event", "status": "waiting", "started_at": at(1)}
    cut = step_segments(waiting, now, moment(6))  # the run ended while it waited
    assert drawn(cut) == [(bar_glyph("wait"), bar_style("wait", "stopped"), 1, 6)]


def test_a_reused_step_without_attempts_is_a_done_bar_and_a_step_without_start_none() -> None:
    reused = {"kind": "run", "status": "completed", "started_at": at(2), "ended_at": at(2)}
    assert drawn(step_segments(reused, moment(10))) == [(*RUN_OK, 2, 2)]
    assert step_segments({"kind": "run", "status": "running"}, moment(10)) == []


def test_an_attempt_alone() -> None:
    assert attempt_segment({"started_at": None}, moment(3)) is None
    failed = attempt_segment(attempt(0, 1, {"name": "E"}), moment(3))
    assert failed is not None and (failed.char, failed.style) == RUN_FAILED
    running = attempt_segment(attempt(2, None), moment(3))
    assert running is not None and running.end == moment(3) and running.style == RUN_PENDING[1]


# -- times -------------------------------------------------------------------------------------


def test_parse_time_reads_what_the_api_sends_and_nothing_else() -> None:
    assert parse_time("2025-01-31T12:00:00.250Z") == T0 + timedelta(milliseconds=250)
    assert parse_time("2025-01-31T12:00:00") == T0  # naive: UTC
    assert parse_time(T0.timestamp()) == T0
    assert parse_time(T0.replace(tzinfo=None)) == T0
    for bad in (None, "", "garbage", True, [1], 1e300):
        assert parse_time(bad) is None, bad


def test_format_moment_and_elapsed() -> None:
    stamp = T0 + timedelta(milliseconds=123)
    assert format_moment(stamp, UTC) == "12:00:00"
    assert format_moment(stamp, UTC, date=True, ms=True) == "2025-01-31 12:00:00.123"
    assert format_moment(stamp, timezone(timedelta(hours=2))) == "14:00:00"
    assert format_moment(None) == "—" and format_moment(None, missing="-") == "-"
    assert elapsed(moment(1), moment(4), moment(9)) == 3.0
    assert elapsed(moment(1), None, moment(9)) == 8.0  # still going: to now
    assert elapsed(moment(5), moment(4), moment(9)) == 0.0  # clock skew
    assert elapsed(None, moment(4), moment(9)) is None


def test_error_line_names_the_error_once() -> None:
    assert error_line({"name": "ValueError", "message": "bad"}) == "ValueError: bad"
    assert error_line({"name": "E", "message": None}) == "E"  # not "E: None"
    assert error_line({"message": "boom"}) == "boom"
    assert error_line("plain") == "plain"
    assert error_line(None) == "" and error_line({}) == ""
    assert error_line({"code": 7}) == '{\n  "code": 7\n}'
