"""The headless log: one plain line per change, coloured only on a terminal."""

from __future__ import annotations

import io

from durable.devserver.dev.headless import HeadlessLog


def test_one_line_per_run_step_and_event_change() -> None:
    out = io.StringIO()
    log = HeadlessLog(out)
    log("event", {"id": "E1", "name": "order/created", "run_ids": ["R1"], "skipped": None})
    log("run", {"run_id": "R1", "function_id": "process-order", "status": "running"})
    log(
        "step",
        {
            "run_id": "R1",
            "function_id": "process-order",
            "key": "charge",
            "kind": "run",
            "status": "errored",
            "attempts": 2,
            "error": "card declined",
        },
    )
    log(
        "run",
        {
            "run_id": "R1",
            "function_id": "process-order",
            "status": "failed",
            "error": "step 'charge' failed",
        },
    )
    log.flush()
    lines = [line.split(" ", 1)[1] for line in out.getvalue().splitlines()]
    assert lines == [
        "event order/created E1 -> 1 run(s)",
        "run   R1 process-order running",
        "step  R1 process-order charge errored (attempt 2) card declined",
        "run   R1 process-order failed step 'charge' failed",
    ]
    assert "\x1b[" not in out.getvalue()


def test_colours_on_a_terminal() -> None:
    out = io.StringIO()
    log = HeadlessLog(out, colour=True)
    log("run", {"run_id": "R1", "function_id": "f", "status": "completed"})
    log.flush()
    assert "\x1b[32mcompleted\x1b[0m" in out.getvalue()


def test_line_stamps_are_the_local_time_to_the_millisecond(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from datetime import datetime

    from durable.devserver.dev import headless

    moments = iter([1_700_000_000.25, 1_700_000_000.999, 1_700_000_001.004])
    monkeypatch.setattr(headless.time, "time", lambda: next(moments))
    stamps = headless._Stamps()
    shown = [stamps(), stamps(), stamps()]
    second = datetime.fromtimestamp(1_700_000_000).astimezone().strftime("%H:%M:%S")
    following = datetime.fromtimestamp(1_700_000_001).astimezone().strftime("%H:%M:%S")
    assert shown == [f"{second}.250", f"{second}.999", f"{following}.004"]
