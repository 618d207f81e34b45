"""The replay fixture format (SPEC section 4), checked by hand: every problem names its field.

A fixture is one JSON object::

    {
      "function": "process-order",                     # the function id
      "event": {"name": "order/created", "data": {}},  # or "events": [...] (a batch)
      "steps": {                                       # recorded results, by step key
        "charge": {"kind": "run", "output": {"id": "ch_1"}},
        "pause": {"kind": "sleep", "output": null},
        "notify": {"kind": "run", "error": {"name": "Error", "message": "smtp down"}}
      },
      "later_events": [{"after": "1h", "event": {"name": "order/cancelled"}}],
      "cancel": {"after": "2h", "reason": "cancelled by request"},  # optional: cancel the run
      "expect": {"status": "completed", "output": {}, "steps": ["charge", "pause", "notify"]}
    }

``docs/fixture.schema.json`` is the same format as a JSON Schema, for editors. This module is
the reference: :func:`load_fixture` reads a file and raises :class:`InvalidFixtureError`
listing every problem as ``FILE: FIELD: PROBLEM`` (bad JSON gets its line and column).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._define.durations import parse_duration
from .._define.events import validate_event
from .._engine.protocol import StepKind
from .._errors import DurableError, InvalidDurationError, InvalidEventError
from .._stores.base import RunStatus

#: Step kinds a fixture may record.
STEP_KINDS = tuple(kind.value for kind in StepKind)
#: Run statuses a fixture may expect.
RUN_STATUSES = tuple(status.value for status in RunStatus)
#: Fields of a fixture; ``$schema``, ``description``, ``run_id`` and ``recorded_at`` are notes.
TOP_FIELDS = (
    "function",
    "event",
    "events",
    "steps",
    "later_events",
    "cancel",
    "expect",
    "$schema",
    "description",
    "run_id",
    "recorded_at",
)
_STEP_FIELDS = ("output", "error", "kind")
_LATER_FIELDS = ("after", "event")
_CANCEL_FIELDS = ("after", "reason")
_EXPECT_FIELDS = ("status", "output", "steps")
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_:-]+")


@dataclass(frozen=True, slots=True)
class FixtureProblem:
    """One thing wrong with a fixture: ``path`` is the field (``steps.charge.output``)."""

    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}" if self.path else self.problem


class InvalidFixtureError(DurableError, ValueError):
    """A fixture file cannot be read, is not JSON, or does not follow the fixture format."""

    code = "invalid_fixture"

    def __init__(self, file: str, problems: list[FixtureProblem]) -> None:
        self.file = file
        self.problems = [str(problem) for problem in problems]
        lines = [f"{file}: {problem}" for problem in self.problems]
        super().__init__("\n".join(lines) if lines else f"{file}: invalid fixture")


def child(path: str, key: str | int) -> str:
    """The path of ``key`` under ``path``: ``steps.charge``, ``later_events[1]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    name = key if _PLAIN_KEY.fullmatch(key) else json.dumps(key)
    return f"{path}.{name}" if path else name


def _type_name(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _unknown(data: Mapping[str, Any], allowed: tuple[str, ...], path: str) -> list[FixtureProblem]:
    known = ", ".join(name for name in allowed if not name.startswith("$"))
    return [
        FixtureProblem(child(path, str(key)), f"unknown field; expected one of: {known}")
        for key in data
        if key not in allowed
    ]


def _check_event(raw: Any, path: str) -> list[FixtureProblem]:
    if not isinstance(raw, Mapping):
        return [FixtureProblem(path, f"must be an event object, got {_type_name(raw)}")]
    try:
        validate_event(raw, now_ms=0)
    except InvalidEventError as exc:
        where = child(path, exc.field) if exc.field else path
        message = str(exc).split(": ", 1)[1] if exc.field else str(exc)
        return [FixtureProblem(where, message)]
    return []


def _check_events(data: Mapping[str, Any]) -> list[FixtureProblem]:
    if "event" in data and "events" in data:
        return [FixtureProblem("events", "give either 'event' or 'events', not both")]
    if "event" in data:
        return _check_event(data["event"], "event")
    if "events" not in data:
        return [FixtureProblem("event", "missing field (the triggering event, or 'events')")]
    events = data["events"]
    if not isinstance(events, list) or not events:
        return [FixtureProblem("events", "must be a non-empty array of events")]
    problems: list[FixtureProblem] = []
    for index, raw in enumerate(events):
        problems += _check_event(raw, child("events", index))
    return problems


def _check_step(key: str, entry: Any) -> list[FixtureProblem]:
    path = child("steps", key)
    if not isinstance(entry, Mapping):
        return [
            FixtureProblem(
                path, f'must be {{"output": ...}} or {{"error": {{...}}}}, got {_type_name(entry)}'
            )
        ]
    problems = _unknown(entry, _STEP_FIELDS, path)
    has_output, has_error = "output" in entry, "error" in entry
    if has_output == has_error:
        which = "both" if has_output else "neither"
        problems.append(
            FixtureProblem(path, f"needs exactly one of 'output' or 'error', has {which}")
        )
    if has_error:
        error = entry["error"]
        if not isinstance(error, Mapping):
            problems.append(
                FixtureProblem(
                    child(path, "error"),
                    f'must be an object like {{"name": ..., "message": ...}}, '
                    f"got {_type_name(error)}",
                )
            )
        else:
            for field in ("name", "message"):
                if field in error and not isinstance(error[field], str):
                    problems.append(
                        FixtureProblem(child(child(path, "error"), field), "must be a string")
                    )
    if "kind" in entry and entry["kind"] not in STEP_KINDS:
        problems.append(
            FixtureProblem(
                child(path, "kind"),
                f"must be one of {', '.join(STEP_KINDS)}; got {entry['kind']!r}",
            )
        )
    return problems


def _check_steps(data: Mapping[str, Any]) -> list[FixtureProblem]:
    if "steps" not in data:
        return [FixtureProblem("steps", "missing field (recorded step results; {} for none)")]
    steps = data["steps"]
    if not isinstance(steps, Mapping):
        return [FixtureProblem("steps", f"must be an object by step key, got {_type_name(steps)}")]
    problems: list[FixtureProblem] = []
    for key, entry in steps.items():
        problems += _check_step(str(key), entry)
    return problems


def _check_after(item: Mapping[str, Any], path: str) -> list[FixtureProblem]:
    if "after" not in item:
        return [FixtureProblem(child(path, "after"), "missing field (e.g. '1h')")]
    after = item["after"]
    if isinstance(after, (str, int, float)) and not isinstance(after, bool):
        try:
            parse_duration(after)
        except InvalidDurationError as exc:
            return [FixtureProblem(child(path, "after"), str(exc))]
        return []
    return [
        FixtureProblem(
            child(path, "after"),
            f"must be a duration ('1h', '2d') or seconds, got {_type_name(after)}",
        )
    ]


def _check_later_events(data: Mapping[str, Any]) -> list[FixtureProblem]:
    later = data.get("later_events", [])
    if not isinstance(later, list):
        return [FixtureProblem("later_events", f"must be an array, got {_type_name(later)}")]
    problems: list[FixtureProblem] = []
    for index, item in enumerate(later):
        path = child("later_events", index)
        if not isinstance(item, Mapping):
            problems.append(FixtureProblem(path, 'must be {"after": "1h", "event": {...}}'))
            continue
        problems += _unknown(item, _LATER_FIELDS, path)
        problems += _check_after(item, path)
        if "event" not in item:
            problems.append(FixtureProblem(child(path, "event"), "missing field"))
        else:
            problems += _check_event(item["event"], child(path, "event"))
    return problems


def _check_cancel(data: Mapping[str, Any]) -> list[FixtureProblem]:
    if "cancel" not in data:
        return []
    cancel = data["cancel"]
    if not isinstance(cancel, Mapping):
        return [FixtureProblem("cancel", f'must be {{"after": "1h"}}, got {_type_name(cancel)}')]
    problems = _unknown(cancel, _CANCEL_FIELDS, "cancel") + _check_after(cancel, "cancel")
    if "reason" in cancel and not isinstance(cancel["reason"], str):
        problems.append(FixtureProblem("cancel.reason", "must be a string"))
    return problems


def _check_expect(data: Mapping[str, Any]) -> list[FixtureProblem]:
    if "expect" not in data:
        return [FixtureProblem("expect", 'missing field ({"status", "output", "steps"})')]
    expect = data["expect"]
    if not isinstance(expect, Mapping):
        return [FixtureProblem("expect", f"must be an object, got {_type_name(expect)}")]
    problems = _unknown(expect, _EXPECT_FIELDS, "expect")
    status = expect.get("status")
    if "status" not in expect:
        problems.append(FixtureProblem("expect.status", "missing field"))
    elif status not in RUN_STATUSES:
        problems.append(
            FixtureProblem(
                "expect.status", f"must be one of {', '.join(RUN_STATUSES)}; got {status!r}"
            )
        )
    if "steps" not in expect:
        problems.append(FixtureProblem("expect.steps", "missing field (step keys in call order)"))
        return problems
    keys = expect["steps"]
    if not isinstance(keys, list):
        problems.append(
            FixtureProblem("expect.steps", f"must be an array of step keys, got {_type_name(keys)}")
        )
        return problems
    seen: set[str] = set()
    for index, key in enumerate(keys):
        path = child("expect.steps", index)
        if not isinstance(key, str) or not key:
            problems.append(FixtureProblem(path, "must be a non-empty string (a step key)"))
        elif key in seen:
            problems.append(FixtureProblem(path, f"step {key!r} is listed twice"))
        else:
            seen.add(key)
    steps = data.get("steps")
    if isinstance(steps, Mapping):
        for key in steps:
            if key not in seen:
                problems.append(
                    FixtureProblem(
                        child("steps", str(key)), "recorded, but not listed in expect.steps"
                    )
                )
    return problems


def check_fixture(data: Any) -> list[FixtureProblem]:
    """Every problem of a parsed fixture, in document order; an empty list if it is valid."""
    if not isinstance(data, Mapping):
        return [FixtureProblem("", f"a fixture must be a JSON object, got {_type_name(data)}")]
    problems = _unknown(data, TOP_FIELDS, "")
    function = data.get("function")
    if "function" not in data:
        problems.append(FixtureProblem("function", "missing field (the function id)"))
    elif not isinstance(function, str) or not function:
        problems.append(FixtureProblem("function", "must be a non-empty string (a function id)"))
    problems += _check_events(data)
    problems += _check_steps(data)
    problems += _check_later_events(data)
    problems += _check_cancel(data)
    problems += _check_expect(data)
    return problems


def validate_fixture(data: Any, *, file: str) -> dict[str, Any]:
    """Return ``data`` as a fixture dict, or raise :class:`InvalidFixtureError`."""
    problems = check_fixture(data)
    if problems:
        raise InvalidFixtureError(file, problems)
    assert isinstance(data, dict)
    return data


def parse_fixture(text: str, *, file: str) -> dict[str, Any]:
    """Parse and validate the JSON text of a fixture."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise InvalidFixtureError(
            file, [FixtureProblem(where, f"invalid JSON: {exc.msg}")]
        ) from None
    except RecursionError:
        raise InvalidFixtureError(
            file, [FixtureProblem("", "invalid JSON: nested too deeply")]
        ) from None
    except ValueError as exc:  # an integer of over 4300 digits
        raise InvalidFixtureError(file, [FixtureProblem("", f"invalid JSON: {exc}")]) from None
    return validate_fixture(data, file=file)


def load_fixture(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read, parse and validate the fixture file at ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        problem = FixtureProblem(
            f"line {line}", f"not UTF-8 text: {exc.reason} at byte {exc.start}"
        )
        raise InvalidFixtureError(str(path), [problem]) from None
    except OSError as exc:
        problem = FixtureProblem("", f"cannot read: {exc.strerror or exc}")
        raise InvalidFixtureError(str(path), [problem]) from None
    return parse_fixture(text, file=str(path))
