"""Replay a fixture (SPEC section 4) on the engine of ``durable.testing``, and judge it.

One fixture, one fresh :class:`~durable._replay.local.LocalEngine` (the engine under
``durable.testing.TestEngine``: the production orchestrator and execution core, a memory
store, a virtual clock starting at the trigger event's ``ts``):

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
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._define.app import Durable, DurableFunction
from .._define.durations import parse_duration
from .._define.events import validate_event
from .._engine.protocol import MemoState, MemoStep
from .._stores.base import TERMINAL_STATUSES
from .fixture_schema import check_fixture
from .judge import (
    REFUSED,
    ReplayResult,
    ResultKind,
    StepRef,
    first_divergence,
    judge,
    recorded_sequence,
    render_sequence,
    same_json,
)
from .local import LocalEngine, Run, mock_step

__all__ = [
    "Apps",
    "ReplayResult",
    "ResultKind",
    "StepRef",
    "first_divergence",
    "judge",
    "recorded_sequence",
    "render_sequence",
    "replay_fixture",
    "replay_fixture_async",
    "same_json",
    "updated",
]

Apps = (
    Durable | DurableFunction | Mapping[str, DurableFunction] | Iterable[Durable | DurableFunction]
)

#: How long a replay lets virtual time run after the last later event, at most.
MAX_VIRTUAL_TIME = parse_duration("365d").total_seconds()


def replay_fixture(
    fixture: Mapping[str, Any],
    apps_or_functions: Apps,
    *,
    name: str,
    update: bool = False,
    checked: bool = False,
) -> ReplayResult:
    """Replay ``fixture`` against the functions of ``apps_or_functions`` (blocking).

    Inside a running event loop (an async test) the replay runs on its own loop in a thread.
    """
    coro = replay_fixture_async(
        fixture, apps_or_functions, name=name, update=update, checked=checked
    )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def replay_fixture_async(
    fixture: Mapping[str, Any],
    apps_or_functions: Apps,
    *,
    name: str,
    update: bool = False,
    checked: bool = False,
) -> ReplayResult:
    """Replay ``fixture``; see the module docstring. Never raises for a bad fixture.

    ``checked=True`` says ``fixture`` was validated already (``load_fixture`` does it), so it
    is not checked again; any other fixture is checked first, and reported if invalid.
    """
    started = time.perf_counter()
    problems = [] if checked else check_fixture(fixture)
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


class _FixtureMocks(Mapping[str, MemoStep]):
    """The recorded results, strict: a step the fixture never heard of (neither recorded nor
    in ``expect.steps``) gets a refusal (a failed result, its body not run).

    Every lookup (``[]``, ``get``, ``in``) answers the same; steps in ``expect.steps`` without
    a recorded result are missing, so they run for real. Iterating gives the recorded keys.
    """

    def __init__(self, recorded: Mapping[str, MemoStep], known: set[str]) -> None:
        self.recorded = dict(recorded)
        self.known = known | set(recorded)

    def __getitem__(self, key: str) -> MemoStep:
        if key in self.recorded:
            return self.recorded[key]
        if key in self.known:
            raise KeyError(key)
        error = {"name": "ReplayDivergence", "message": f"step {key!r} {REFUSED}"}
        return MemoStep(key, None, MemoState.FAILED, error=error)

    def __iter__(self) -> Iterator[str]:
        return iter(self.recorded)

    def __len__(self) -> int:
        return len(self.recorded)


def _events(fixture: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = fixture["events"] if "events" in fixture else [fixture["event"]]
    return [dict(event) for event in raw]


async def _run(
    fixture: Mapping[str, Any], apps: list[Durable], function_id: str, *, strict: bool
) -> Run:
    events = _events(fixture)
    ts = events[0].get("ts")
    engine = LocalEngine(apps, start=ts / 1000 if isinstance(ts, int) else None)
    orchestrator = engine.orchestrator
    # Replay starts the fixture's function only: no triggers, no crons.
    orchestrator.set_functions(
        dataclasses.replace(fn.config, triggers=()) for fn in engine.functions.values()
    )
    recorded = {key: mock_step(key, value) for key, value in fixture["steps"].items()}
    mocks = _FixtureMocks(recorded, set(fixture["expect"]["steps"])) if strict else recorded
    record = orchestrator.start_run(function_id, events[0], trigger="replay", mocks=mocks)
    if len(events) > 1:
        now_ms = int(engine.clock.now() * 1000)
        record.events = [validate_event(e, now_ms=now_ms).to_dict() for e in events]
        engine.store.set_run_events(record.run_id, record.event, record.events)
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
        await engine.advance_to(at)
        if event is not None:
            await engine.send(event)
        else:
            reason = cancel.get("reason") if cancel else None
            await engine.cancel(record.run_id, reason or "cancelled by request")
        await engine.settle()
    if fixture["expect"]["status"] in TERMINAL_STATUSES:
        horizon = engine.clock.now() + MAX_VIRTUAL_TIME
        await engine.run_until(lambda: engine.ended(record.run_id), horizon)
    return engine.run(record.run_id)


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
