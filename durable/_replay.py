"""Replay a fixture (SPEC section 4) on the engine of ``durable.testing``, and judge it.

One fixture, one fresh :class:`~durable.testing.TestEngine` (the production orchestrator and
execution core, a memory store, a virtual clock starting at the trigger event's ``ts``):

1. the run starts with the fixture's recorded step results as mocks: those steps are
   checkpointed with their real kind without running their bodies (no side effects); steps
   listed in ``expect.steps`` but left out of ``steps`` run for real; a step the fixture has
   never heard of is refused (recorded as failed, body not run) unless ``update`` is set;
2. virtual time moves through sleeps, retries and timeouts, and each ``later_events`` item is
   sent when the clock reaches ``after`` (counted from the start of the run), as is the
   fixture's ``cancel`` (a cancellation by hand); a fixture that expects an unfinished run
   (``sleeping``, ``waiting``...) stops after its last later event;
3. the run's step sequence (keys and kinds, in call order) is compared with the recording:
   the first difference is a *divergence*; then status and output are compared (*mismatch*).

Only the fixture's function is started: every function's triggers and crons are switched off
in the replay engine, so events sent during the replay start nothing, but ``step.invoke`` of
another function still works.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import difflib
import json
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from ._app import Durable, DurableFunction
from ._durations import parse_duration
from ._events import validate_event
from ._fixture_schema import check_fixture
from ._protocol import MemoState, MemoStep
from .testing import Run, TestEngine, _mock

ResultKind = Literal["pass", "mismatch", "divergence", "invalid"]
StepRef = tuple[str, str | None]  #: (key, kind); kind None when the fixture does not say
Apps = (
    Durable | DurableFunction | Mapping[str, DurableFunction] | Iterable[Durable | DurableFunction]
)

#: How long a replay lets virtual time run after the last later event, at most.
MAX_VIRTUAL_TIME = parse_duration("365d").total_seconds()
_TERMINAL = frozenset({"completed", "failed", "cancelled"})
_REFUSED = "is not in the fixture, so replay did not run it"


@dataclass(slots=True)
class ReplayResult:
    """How one fixture replayed. ``kind``: pass, mismatch, divergence or invalid."""

    name: str
    ok: bool
    kind: ResultKind
    message: str
    expected: list[StepRef] = field(default_factory=list)  #: the recorded step sequence
    actual: list[StepRef] = field(default_factory=list)  #: the code's step sequence
    diff: str = ""  #: unified diff (sequences on divergence, status and output on mismatch)
    first_divergence: str | None = None  #: key of the first diverging step
    expected_status: str | None = None
    actual_status: str | None = None
    updated_fixture: dict[str, Any] | None = None  #: with ``update=True``: expect rewritten
    changes: list[str] = field(default_factory=list)  #: what the update changes
    seconds: float = 0.0  #: wall time of the replay

    def to_json(self) -> dict[str, Any]:
        """One JSON-ready line for ``durable replay --json``."""
        return {
            "fixture": self.name,
            "ok": self.ok,
            "kind": self.kind,
            "message": self.message,
            "first_divergence": self.first_divergence,
            "expected_steps": [{"key": k, "kind": kind} for k, kind in self.expected],
            "actual_steps": [{"key": k, "kind": kind} for k, kind in self.actual],
            "expected_status": self.expected_status,
            "actual_status": self.actual_status,
            "diff": self.diff,
            "changes": self.changes,
            "seconds": round(self.seconds, 6),
        }


def replay_fixture(
    fixture: Mapping[str, Any], apps_or_functions: Apps, *, name: str, update: bool = False
) -> ReplayResult:
    """Replay ``fixture`` against the functions of ``apps_or_functions`` (blocking).

    Inside a running event loop (an async test) the replay runs on its own loop in a thread.
    """
    coro = replay_fixture_async(fixture, apps_or_functions, name=name, update=update)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def replay_fixture_async(
    fixture: Mapping[str, Any], apps_or_functions: Apps, *, name: str, update: bool = False
) -> ReplayResult:
    """Replay ``fixture``; see the module docstring. Never raises for a bad fixture."""
    started = time.perf_counter()
    problems = check_fixture(fixture)
    if problems:
        return _invalid(name, "\n".join(f"{name}: {p}" for p in problems), started)
    apps = _apps(apps_or_functions)
    known = {fid for app in apps for fid in app.functions}
    function_id = str(fixture["function"])
    if function_id not in known:
        listing = ", ".join(sorted(known)) or "none"
        message = f"{name}: function: no function {function_id!r} in the app (it has: {listing})"
        return _invalid(name, message, started)
    try:
        run = await _run(fixture, apps, function_id, strict=not update)
    except Exception as exc:  # the engine itself failed: report it, keep replaying others
        return _invalid(name, f"{name}: replay crashed: {type(exc).__name__}: {exc}", started)
    result = judge(fixture, run, name=name)
    if update:
        result.updated_fixture, result.changes = updated(fixture, run)
    result.seconds = time.perf_counter() - started
    return result


def _invalid(name: str, message: str, started: float) -> ReplayResult:
    return ReplayResult(name, False, "invalid", message, seconds=time.perf_counter() - started)


def _apps(value: Apps) -> list[Durable]:
    if isinstance(value, (Durable, DurableFunction)):
        items: Iterable[Any] = [value]
    elif isinstance(value, Mapping):
        items = value.values()
    else:
        items = value
    apps: dict[int, Durable] = {}
    for item in items:
        app = item.app if isinstance(item, DurableFunction) else item
        apps.setdefault(id(app), app)
    return list(apps.values())


# -- running ----------------------------------------------------------------------------------


class _FixtureMocks(dict[str, MemoStep]):
    """The recorded results; ``get`` refuses steps the fixture never heard of (strict mode)."""

    def __init__(self, recorded: Mapping[str, MemoStep], known: set[str]) -> None:
        super().__init__(recorded)
        self.known = known

    def get(self, key: str, default: Any = None) -> Any:
        """The recorded result of ``key``; a refusal for an unknown key; else ``default``."""
        if key in self:
            return self[key]
        if key in self.known:
            return default
        error = {
            "name": "ReplayDivergence",
            "message": f"step {key!r} {_REFUSED}",
        }
        return MemoStep(key, None, MemoState.FAILED, error=error)


def _events(fixture: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = fixture["events"] if "events" in fixture else [fixture["event"]]
    return [dict(event) for event in raw]


async def _run(
    fixture: Mapping[str, Any], apps: list[Durable], function_id: str, *, strict: bool
) -> Run:
    events = _events(fixture)
    ts = events[0].get("ts")
    engine = TestEngine(*apps, start=ts / 1000 if isinstance(ts, int) else None)
    orchestrator = engine.orchestrator
    # Replay starts the fixture's function only: no triggers, no crons.
    orchestrator.set_functions(
        dataclasses.replace(fn.config, triggers=()) for fn in engine.functions.values()
    )
    recorded = {key: _mock(key, value) for key, value in fixture["steps"].items()}
    record = orchestrator.start_run(function_id, events[0], trigger="replay", mocks=recorded)
    if strict:  # engine gap: start_run copies its mocks into a plain dict (see the docs)
        known = set(fixture["expect"]["steps"])
        orchestrator._mocks[record.run_id] = _FixtureMocks(recorded, known)
    if len(events) > 1:
        now_ms = int(engine.clock.now() * 1000)
        record.events = [validate_event(e, now_ms=now_ms).to_dict() for e in events]
        engine.store.update_run(record)
    start = engine.clock.now()
    timeline: list[tuple[float, int, dict[str, Any] | None]] = [
        (start + parse_duration(item["after"]).total_seconds(), index, dict(item["event"]))
        for index, item in enumerate(fixture.get("later_events", []))
    ]
    cancel = fixture.get("cancel")
    if cancel is not None:  # after the later events due at the same moment
        timeline.append((start + parse_duration(cancel["after"]).total_seconds(), 1 << 30, None))
    await engine.settle()
    for at, _, event in sorted(timeline, key=lambda item: item[:2]):
        await engine.advance(max(0.0, at - engine.clock.now()))
        if event is not None:
            await engine.send(event)
        else:
            reason = cancel.get("reason") if cancel else None
            await engine.cancel(record.run_id, reason or "cancelled by request")
        await engine.settle()
    if fixture["expect"]["status"] in _TERMINAL:
        deadline = engine.clock.now() + MAX_VIRTUAL_TIME
        while engine.run(record.run_id).status not in _TERMINAL:
            due = orchestrator.next_wake_at()
            if due is None or due > deadline:
                break
            engine.clock.set(due)
            await engine.settle()
    return engine.run(record.run_id)


# -- judging ----------------------------------------------------------------------------------


def recorded_sequence(fixture: Mapping[str, Any]) -> list[StepRef]:
    """The recording: ``expect.steps`` with the kinds ``steps`` gives them."""
    steps = fixture["steps"]
    return [(key, steps.get(key, {}).get("kind")) for key in fixture["expect"]["steps"]]


def judge(fixture: Mapping[str, Any], run: Run, *, name: str) -> ReplayResult:
    """Compare a replayed run with the fixture's expectations."""
    actual: list[StepRef] = [(step.key, step.kind) for step in run.steps]
    expected = _known_kinds(recorded_sequence(fixture), actual)
    expect = fixture["expect"]
    result = ReplayResult(
        name,
        True,
        "pass",
        "",
        expected=expected,
        actual=actual,
        expected_status=expect["status"],
        actual_status=run.status,
    )
    divergence = first_divergence(expected, actual)
    if divergence is not None:
        index, key, why = divergence
        result.ok, result.kind, result.first_divergence = False, "divergence", key
        result.message = (
            f"{name}: the code's steps diverge from the recording at step #{index + 1} "
            f"{key!r}\n  {why}{_failure_note(run)}\n"
            f"  recorded: {render_sequence(expected)}\n"
            f"  code:     {render_sequence(actual)}"
        )
        result.diff = _unified(_sequence_lines(expected), _sequence_lines(actual), name)
        return result
    problems = []
    if run.status != expect["status"]:
        problems.append(f"status: expected {expect['status']!r}, got {run.status!r}")
    if "output" in expect and not same_json(expect["output"], run.output):
        problems.append("output differs (see the diff)")
    if not problems:
        result.message = f"{name}: ok ({len(actual)} steps, {run.status})"
        return result
    result.ok, result.kind = False, "mismatch"
    result.message = f"{name}: " + "; ".join(problems) + _failure_note(run)
    result.diff = _unified(
        _outcome_lines(expect, expect["status"], expect.get("output")),
        _outcome_lines(expect, run.status, run.output),
        name,
    )
    return result


def _known_kinds(expected: list[StepRef], actual: list[StepRef]) -> list[StepRef]:
    """``expected`` with the kinds the fixture leaves out taken from the same step of the run
    (an unrecorded kind matches any), so that diffs show only real differences."""
    kinds = dict(actual)
    return [(key, kind if kind is not None else kinds.get(key)) for key, kind in expected]


def first_divergence(expected: list[StepRef], actual: list[StepRef]) -> tuple[int, str, str] | None:
    """``(index, step key, explanation)`` of the first difference, or None."""
    expected_keys = {key for key, _ in expected}
    actual_keys = {key for key, _ in actual}
    fix = "restore it, or re-record the fixture with --update"
    for index in range(max(len(expected), len(actual))):
        if index >= len(actual):
            key = expected[index][0]
            return (
                index,
                key,
                (
                    f"the code no longer reaches step {key!r} (removed, or the run ended or "
                    f"stopped before it); {fix}"
                ),
            )
        new_key, new_kind = actual[index]
        if index >= len(expected):
            return (
                index,
                new_key,
                (
                    f"step {new_key!r} was added after the recorded steps; if that is intended, "
                    "re-record the fixture with --update"
                ),
            )
        key, kind = expected[index]
        if key == new_key:
            if kind is not None and kind != new_kind:
                return (
                    index,
                    key,
                    (
                        f"step {key!r} was recorded as a {kind!r} step but the code now calls "
                        f"step.{new_kind}() with that id; keep the kind, use a new step id for "
                        "the new behaviour, or re-record the fixture with --update"
                    ),
                )
            continue
        if key not in actual_keys and new_key not in expected_keys and index == len(actual) - 1:
            why = (  # strict replay refused the unknown step, so the run stopped there
                f"the code calls step {new_key!r}, which the recording does not have, where "
                f"the recording calls {key!r}: {key!r} was renamed to {new_key!r}, or "
                f"{new_key!r} was added before it (replay did not run it); restore the step "
                "id and add new steps after the recorded ones, or re-record the fixture "
                "with --update"
            )
        elif key not in actual_keys and new_key not in expected_keys:
            why = (
                f"step {key!r} was renamed or removed (the code calls {new_key!r} there); "
                f"restore its id, or re-record the fixture with --update"
            )
        elif key not in actual_keys:
            why = f"step {key!r} was removed (the code goes on with {new_key!r}); {fix}"
        elif new_key not in expected_keys:
            why = (
                f"step {new_key!r} was added before {key!r}; new steps must not change the "
                "order of recorded ones in running code: add it after them, or re-record "
                "the fixture with --update"
            )
        else:
            why = (
                f"steps were reordered: the recording calls {key!r} here, the code calls "
                f"{new_key!r}; restore the order, or re-record the fixture with --update"
            )
        return index, key, why
    return None


def _failure_note(run: Run) -> str:
    if run.status == "failed" and run.error:
        if _REFUSED in str(run.error.get("message")):
            return ""  # the divergence itself: the explanation says it all
        return f" (the run failed: {run.error.get('name')}: {run.error.get('message')})"
    if run.status == "cancelled" and run.cancel_reason:
        return f" (the run was cancelled: {run.cancel_reason})"
    if run.status not in _TERMINAL:
        return f" (the run was still {run.status} when the replay stopped)"
    return ""


def render_sequence(steps: list[StepRef]) -> str:
    """``fetch (run), pause (sleep)``, or ``(no steps)``."""
    return ", ".join(_ref(step) for step in steps) or "(no steps)"


def _ref(step: StepRef) -> str:
    key, kind = step
    return f"{key} ({kind})" if kind else key


def _sequence_lines(steps: list[StepRef]) -> list[str]:
    return [f"{n}. {_ref(step)}" for n, step in enumerate(steps, 1)]


def _outcome_lines(expect: Mapping[str, Any], status: str | None, output: Any) -> list[str]:
    lines = [f"status: {json.dumps(status)}"]
    if "output" in expect:
        text = json.dumps(output, indent=2, sort_keys=True, ensure_ascii=False)
        lines += ("output: " + text).splitlines()
    return lines


def _unified(expected: list[str], actual: list[str], name: str) -> str:
    lines = difflib.unified_diff(
        expected, actual, f"expected ({name})", "actual (current code)", lineterm="", n=3
    )
    return "\n".join(lines)


def same_json(a: Any, b: Any) -> bool:
    """JSON equality: ``1 == 1.0`` but ``true != 1`` and ``[1] != (1,)`` never arises."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


# -- updating ---------------------------------------------------------------------------------


def updated(fixture: Mapping[str, Any], run: Run) -> tuple[dict[str, Any], list[str]]:
    """The fixture with ``expect`` (and recorded steps) rewritten from ``run``; the changes.

    Recorded results are kept for steps the code still calls (with their current kind);
    results of steps that are new since the recording are stored; recorded results of steps
    the code no longer calls are dropped; steps the fixture ran for real stay unrecorded.
    """
    new = copy.deepcopy(dict(fixture))
    old_steps: dict[str, Any] = new["steps"]
    old_expect: dict[str, Any] = new["expect"]
    listed = set(old_expect["steps"])
    steps: dict[str, Any] = {}
    for step in run.steps:
        if step.key in old_steps:
            entry = dict(old_steps[step.key])
            entry["kind"] = step.kind
            steps[step.key] = entry
        elif step.key not in listed and step.status in ("completed", "failed"):
            outcome = {"error": step.error} if step.status == "failed" else {"output": step.output}
            steps[step.key] = {"kind": step.kind, **outcome}
    expect: dict[str, Any] = {"status": run.status}
    if "output" in old_expect:
        expect["output"] = run.output
    expect["steps"] = [step.key for step in run.steps]
    new["steps"], new["expect"] = steps, expect
    return new, _changes(fixture, new)


def _changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    before, after = old["expect"], new["expect"]
    changes = []
    if before["status"] != after["status"]:
        changes.append(f"expect.status: {before['status']!r} -> {after['status']!r}")
    if "output" in before and not same_json(before["output"], after["output"]):
        changes.append(
            "expect.output: " + _short(before["output"]) + " -> " + _short(after["output"])
        )
    if before["steps"] != after["steps"]:
        changes.append(f"expect.steps: {before['steps']} -> {after['steps']}")
    added = [key for key in new["steps"] if key not in old["steps"]]
    dropped = [key for key in old["steps"] if key not in new["steps"]]
    if added:
        changes.append(f"steps: recorded {', '.join(added)}")
    if dropped:
        changes.append(f"steps: dropped {', '.join(dropped)}")
    for key, entry in new["steps"].items():
        was = old["steps"].get(key, {}).get("kind")
        if key in old["steps"] and was != entry["kind"]:
            changes.append(f"steps.{key}.kind: {was!r} -> {entry['kind']!r}")
    return changes


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."
