"""The parts of orchestration, each built alone over a MemoryStore (no Orchestrator), and the
rule that nothing below the facade imports it."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path
from typing import Any

import pytest

import durable
from durable import Durable
from durable._define.events import validate_event
from durable._engine.inprocess import InProcessExecutor, collect_functions
from durable._engine.protocol import ExecutionHost, ExecutionRequest, ExecutionResult
from durable._errors import StoreError, UnknownFunctionError
from durable._orchestration.clock import VirtualClock
from durable._orchestration.functions import FunctionRegistry
from durable._orchestration.in_flight import InFlight
from durable._orchestration.journal import Journal
from durable._orchestration.parking import Parking
from durable._orchestration.passes import Passes
from durable._orchestration.runs import FUNCTION_CANCELLED, Runs
from durable._orchestration.scheduler import DUE_MARGIN, Scheduler
from durable._stores.base import RunRecord, RunStatus, StepRecord, StepStatus, Store
from durable._stores.memory import MemoryStore
from durable._stores.sqlite import SQLiteStore

START = 1_800_000_000.0


def _app() -> Durable:
    app = Durable(id="parts")

    @app.function(id="greet", triggers=[{"event": "greet/go"}])
    async def greet(ctx: Any) -> str:
        return "hi"

    @app.function(id="one-at-a-time", triggers=[{"event": "solo/go"}], concurrency=[{"limit": 1}])
    async def solo(ctx: Any) -> str:
        return "solo"

    @app.function(id="child", triggers=[{"event": "child/go"}])
    async def child(ctx: Any) -> str:
        return "child"

    return app


class RecordingExecutor:
    """An executor that runs nothing and records the cancels it is told of."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []

    async def execute(self, request: ExecutionRequest, host: ExecutionHost) -> ExecutionResult:
        raise AssertionError("the run state machine never runs a pass")

    def cancel_run(self, run_id: str) -> None:
        self.cancelled.append(run_id)


class Parts:
    """The run state machine and what it needs, wired by hand."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = store if store is not None else MemoryStore()
        self.clock = VirtualClock(START)
        self.functions = FunctionRegistry(fn.config for fn in _app().functions.values())
        self.in_flight = InFlight()
        self.journal = Journal(self.store, lambda: len(self.in_flight))
        self.executor = RecordingExecutor()
        self.heard: list[tuple[str, dict[str, Any]]] = []
        self.journal.listeners.append(lambda kind, change: self.heard.append((kind, change)))
        self.runs = Runs(
            self.store, self.clock, self.journal, self.functions, self.in_flight, self.executor
        )

    def event(self, name: str, **data: Any) -> Any:
        return validate_event({"name": name, "data": data}, now_ms=int(START * 1000))


def test_the_run_state_machine_ingests_an_event_into_a_queued_run_alone() -> None:
    parts = Parts()
    [record] = parts.runs.ingest([parts.event("greet/go", who="ada")])
    parts.journal.flush()
    [run_id] = record.run_ids
    run = parts.store.get_run(run_id)
    assert run is not None
    assert (run.function_id, run.status, run.ready_at) == ("greet", RunStatus.QUEUED, START)
    assert run.event["data"] == {"who": "ada"}
    assert parts.in_flight.wakeup.is_set()
    assert ("run", {"run_id": run_id, "function_id": "greet", "status": "queued"}) in parts.heard


def test_ingest_takes_validated_events_and_ingest_raw_validates_them() -> None:
    parts = Parts()
    with pytest.raises(durable.InvalidEventError, match="name"):
        parts.runs.ingest_raw([{"name": "greet/go"}, {"data": {}}])
    assert parts.store.list_events() == [] and parts.heard == []  # nothing of the batch
    [record] = parts.runs.ingest_raw([{"name": "greet/go", "id": "e1"}])
    assert record.id == "e1" and len(record.run_ids) == 1


def test_validated_events_are_not_validated_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """The API validates a batch once (``validate_events``); ingest only stores it."""
    import durable._orchestration.runs as runs_module

    parts = Parts()
    event = parts.event("greet/go")

    def again(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("validated twice")

    monkeypatch.setattr(runs_module, "validate_event", again)
    [record] = parts.runs.ingest([event])
    assert record.id == event.id and len(record.run_ids) == 1


async def test_a_cancel_is_committed_then_told_to_the_executor_and_the_pass_in_flight() -> None:
    parts = Parts()
    run = parts.runs.start_run("greet", {"name": "greet/go"})
    parts.journal.flush()
    parts.in_flight.tasks[run.run_id] = None  # type: ignore[assignment]  # a pass is out
    async with parts.journal.transaction():
        assert parts.runs.cancel(run.run_id, "enough") is True
        assert parts.executor.cancelled == []  # not before the commit
        assert not parts.in_flight.is_cancelled(run.run_id)
    assert parts.executor.cancelled == [run.run_id]
    assert parts.in_flight.is_cancelled(run.run_id)
    ended = parts.store.get_run(run.run_id)
    assert ended is not None and ended.status is RunStatus.CANCELLED
    assert ended.cancel_reason == "enough"
    emitted = [e for e in parts.store.list_events() if e.name == FUNCTION_CANCELLED]
    assert [e.data["run_id"] for e in emitted] == [run.run_id]
    async with parts.journal.transaction():
        assert parts.runs.cancel(run.run_id) is False  # already ended: nobody told twice
    assert parts.executor.cancelled == [run.run_id]


async def test_a_refused_cancel_is_rolled_back_and_tells_the_executor_nothing(
    tmp_path: Path,
) -> None:
    parts = Parts(SQLiteStore(str(tmp_path / "runs.db")))
    run = parts.runs.start_run("greet", {"name": "greet/go"})
    parts.journal.flush()
    commit = parts.store.commit

    def refuse() -> bool:
        if parts.store.get_run(run.run_id).status is RunStatus.CANCELLED:  # type: ignore[union-attr]
            raise StoreError("database or disk is full")
        return commit()

    parts.store.commit = refuse  # type: ignore[method-assign]
    with pytest.raises(StoreError):
        async with parts.journal.transaction():
            parts.runs.cancel(run.run_id)
    assert parts.executor.cancelled == []
    kept = parts.store.get_run(run.run_id)
    assert kept is not None and kept.status is RunStatus.QUEUED


def test_a_child_ending_answers_its_parent_and_a_parent_in_flight_goes_again() -> None:
    parts = Parts()
    parent = parts.runs.start_run("greet", {"name": "greet/go"})
    step = StepRecord(
        run_id=parent.run_id,
        key="call",
        id="call",
        kind="invoke",
        status=StepStatus.INVOKING,
        position=0,
    )
    parts.store.upsert_step(step)
    child = parts.runs.start_invoked_run("child", {"x": 1}, parent=parent, step_key="call")
    parts.in_flight.tasks[parent.run_id] = None  # type: ignore[assignment]
    parts.runs.complete(child, '"child"')
    parts.journal.flush()
    [answered] = parts.store.get_steps(parent.run_id)
    assert (answered.status, answered.output) == (StepStatus.COMPLETED, '"child"')
    assert parts.in_flight.rerun == {parent.run_id}  # due again when its pass ends


def test_the_registry_finds_functions_by_id_and_by_event() -> None:
    registry = FunctionRegistry(fn.config for fn in _app().functions.values())
    assert "greet" in registry and "nope" not in registry
    assert [c.id for c in registry.triggered({"name": "solo/go", "data": {}})] == ["one-at-a-time"]
    with pytest.raises(UnknownFunctionError):
        registry.require("nope")
    registry.replace([])
    assert registry.all() == [] and registry.get("greet") is None


# -- a pass alone: the real executor, no scheduler ----------------------------------------------


async def test_a_pass_runs_alone_with_the_in_process_executor() -> None:
    parts = Parts()
    functions = collect_functions([_app()])
    executor = InProcessExecutor(functions, parts.clock.now)
    parking = Parking(
        parts.runs, parts.store, parts.clock, parts.journal, parts.functions, parts.in_flight
    )
    passes = Passes(
        runs=parts.runs,
        journal=parts.journal,
        store=parts.store,
        clock=parts.clock,
        executor=executor,
        functions=parts.functions,
        parking=parking,
        in_flight=parts.in_flight,
    )
    run = parts.runs.start_run("greet", {"name": "greet/go"})
    await passes.execute(run)
    ended = parts.store.get_run(run.run_id)
    assert ended is not None
    assert (ended.status, ended.output, ended.ready_at) == (RunStatus.COMPLETED, '"hi"', None)
    gone = parts.runs.start_run("greet", {"name": "greet/go"})
    parts.functions.replace([])  # its function was unloaded meanwhile: it fails, named
    await passes.execute(gone)
    failed = parts.store.get_run(gone.run_id)
    assert failed is not None and failed.status is RunStatus.FAILED
    assert failed.error is not None and "greet" in failed.error["message"]


# -- the scheduler alone: a fake pass -----------------------------------------------------------


class FakePasses:
    """Stands in for Passes: each pass waits until released, or raises what it is given."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.started: list[str] = []
        self.release = asyncio.Event()
        self.error: Exception | None = None

    async def execute(self, run: RunRecord) -> None:
        self.started.append(run.run_id)
        run.status, run.ready_at = RunStatus.RUNNING, None  # as a real pass: take the run
        self.store.update_run(run)
        if self.error is not None:  # ... and then a write of it is refused
            raise self.error
        await self.release.wait()
        run.status = RunStatus.COMPLETED
        self.store.update_run(run)


def _scheduler(parts: Parts, passes: FakePasses) -> Scheduler:
    return Scheduler(
        runs=parts.runs,
        journal=parts.journal,
        store=parts.store,
        clock=parts.clock,
        functions=parts.functions,
        in_flight=parts.in_flight,
        execute=passes.execute,
        max_parallel=10,
    )


async def test_the_scheduler_alone_starts_due_runs_within_their_concurrency_limit() -> None:
    parts = Parts()
    passes = FakePasses(parts.store)
    scheduler = _scheduler(parts, passes)
    first = parts.runs.start_run("one-at-a-time", {"name": "solo/go"})
    second = parts.runs.start_run("one-at-a-time", {"name": "solo/go"})
    other = parts.runs.start_run("greet", {"name": "greet/go"})
    parts.journal.flush()
    assert await scheduler.tick() == 2  # the second solo run waits for the slot
    await asyncio.sleep(0)
    assert passes.started == [first.run_id, other.run_id]
    assert set(parts.in_flight.tasks) == {first.run_id, other.run_id}
    assert parts.journal._passes_in_flight() == 2  # group commit sees the passes in flight
    passes.release.set()
    await scheduler.settle()
    assert passes.started == [first.run_id, other.run_id, second.run_id]
    assert parts.in_flight.tasks == {}


async def test_start_now_starts_due_runs_at_once_while_the_loop_runs() -> None:
    """Ingest calls start_now() once its events are committed: the new run's pass starts
    without waiting for the loop's next round. Without the loop (a virtual clock driven by
    hand) it starts nothing."""
    parts = Parts()
    passes = FakePasses(parts.store)
    scheduler = _scheduler(parts, passes)
    early = parts.runs.start_run("greet", {"name": "greet/go"})
    parts.journal.flush()
    assert scheduler.start_now() == 0 and passes.started == []
    looping = asyncio.ensure_future(scheduler.run_forever())
    await scheduler.first_round.wait()  # its first round starts the run already due
    await asyncio.sleep(0)
    assert passes.started == [early.run_id]
    late = parts.runs.start_run("greet", {"name": "greet/go"})
    parts.journal.flush()
    assert scheduler.start_now() == 1
    assert late.run_id in parts.in_flight.tasks  # before the loop's next round
    passes.release.set()
    looping.cancel()
    await asyncio.gather(looping, return_exceptions=True)


async def test_a_pass_start_now_started_goes_before_the_round_its_ingest_woke() -> None:
    """An ingest wakes the loop (new work may be due) and start_now() starts the new run's
    pass at once: that pass sends its request first, the round that re-reads the due runs
    comes after (it was ~0.1 ms of every event's way to its first step)."""
    parts = Parts()
    passes = FakePasses(parts.store)
    scheduler = _scheduler(parts, passes)
    order: list[str] = []
    real_tick, real_execute = scheduler.tick, passes.execute

    async def tick() -> int:
        order.append("round")
        return await real_tick()

    async def execute(run: RunRecord) -> None:
        order.append("pass")
        await real_execute(run)

    scheduler.tick = tick  # type: ignore[method-assign]
    scheduler.execute = execute
    looping = asyncio.ensure_future(scheduler.run_forever())
    await scheduler.first_round.wait()
    for _ in range(5):
        await asyncio.sleep(0)  # the loop now waits for its wake-up
    order.clear()
    parts.runs.start_run("greet", {"name": "greet/go"})  # sets the wake-up, as ingest does
    parts.journal.flush()
    assert scheduler.start_now() == 1
    for _ in range(10):
        await asyncio.sleep(0)
    assert order[:2] == ["pass", "round"]
    passes.release.set()
    looping.cancel()
    await asyncio.gather(looping, return_exceptions=True)


async def test_start_now_leaves_a_failure_to_the_loops_round() -> None:
    """The ingested events are committed when start_now runs: whatever goes wrong starting
    their passes is not the request's error (the loop's round retries and reports it)."""
    parts = Parts()
    passes = FakePasses(parts.store)
    scheduler = _scheduler(parts, passes)
    scheduler.running = True  # as while run_forever runs

    def broken(now: float, limit: int) -> list[RunRecord]:
        raise ValueError("a bug reading due runs")

    parts.store.ready_runs = broken  # type: ignore[method-assign]
    assert scheduler.start_now() == 0


class PageCountingStore(MemoryStore):
    """A memory store that records the limit of every ``ready_runs`` page read."""

    def __init__(self) -> None:
        super().__init__()
        self.pages: list[int] = []

    def ready_runs(self, now: float, limit: int) -> list[RunRecord]:
        self.pages.append(limit)
        return super().ready_runs(now, limit)


async def test_a_round_reads_a_page_of_due_runs_a_little_larger_than_its_room() -> None:
    store = PageCountingStore()
    parts = Parts(store)
    passes = FakePasses(parts.store)
    scheduler = _scheduler(parts, passes)  # room for 10 passes
    for _ in range(2_000):
        parts.runs.start_run("greet", {"name": "greet/go"})
    parts.journal.flush()
    assert await scheduler.tick() == 10
    assert store.pages == [10 + DUE_MARGIN]  # not the 2,000 due runs, decoded to start 10
    passes.release.set()
    await scheduler.settle()
    assert len(set(passes.started)) == 2_000


async def test_runs_held_back_by_a_full_key_do_not_hide_the_runs_due_after_them() -> None:
    store = PageCountingStore()
    parts = Parts(store)
    passes = FakePasses(parts.store)
    scheduler = _scheduler(parts, passes)
    solos = [parts.runs.start_run("one-at-a-time", {"name": "solo/go"}) for _ in range(200)]
    parts.clock.advance(1)
    other = parts.runs.start_run("greet", {"name": "greet/go"})  # due after all of them
    parts.journal.flush()
    assert await scheduler.tick() == 2  # one solo run (its limit is 1), and the other
    await asyncio.sleep(0)
    assert passes.started == [solos[0].run_id, other.run_id]
    assert store.pages == [10 + DUE_MARGIN, 4 * (10 + DUE_MARGIN)]  # a larger page found it


async def test_the_scheduler_strands_a_pass_the_database_refused_and_retries_later() -> None:
    parts = Parts()
    passes = FakePasses(parts.store)
    scheduler = _scheduler(parts, passes)
    run = parts.runs.start_run("greet", {"name": "greet/go"})
    parts.journal.flush()
    passes.error = StoreError("database is locked")
    await scheduler.tick()
    await asyncio.sleep(0)  # the pass runs
    await asyncio.sleep(0)  # and is done
    assert scheduler.stranded == {run.run_id} and parts.in_flight.tasks == {}
    assert scheduler.next_wake_at() == pytest.approx(START + 0.1)  # the first back-off
    passes.error = None
    await scheduler.tick()  # too early: the run waits out its back-off
    assert passes.started == [run.run_id]
    parts.clock.advance(0.1)
    passes.release.set()
    await scheduler.tick()  # made ready again from its last commit, and started
    await scheduler.settle()
    assert passes.started == [run.run_id, run.run_id]


# -- the layering rule -------------------------------------------------------------------------

#: The faces that build the facade: the public testing engine, and the local engine shared by
#: testing and replay.
FACES = {"testing", "_replay.local"}
FACADE = "_orchestration.orchestrator"


def _module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_of(path: Path, name: str) -> set[str]:
    """The durable modules ``path`` (module ``name``) imports, as names below ``durable``
    (anywhere in it, TYPE_CHECKING blocks included)."""
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.removeprefix("durable.") for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: from ._x import y, from .. import x
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                prefix = ".".join([*base, module] if module else base)
                if module:
                    found.add(prefix)
                found.update(f"{prefix}.{alias.name}".lstrip(".") for alias in node.names)
            elif module.startswith("durable."):
                found.add(module.removeprefix("durable."))
    return found


def test_no_module_below_the_facade_imports_it() -> None:
    package = Path(durable.__file__).parent
    modules = {}
    for path in package.rglob("*.py"):
        name = _module_name(path, package)
        modules[name] = _imports_of(path, name)
    importers = {name for name, imports in modules.items() if FACADE in imports}
    assert importers <= FACES, f"only the faces may import durable.{FACADE}: {importers}"
    # and nothing the facade reaches, directly or not, reaches back to it
    reached, pending = set(), [FACADE]
    while pending:
        for imported in modules.get(pending.pop(), set()):
            if imported in modules and imported not in reached:
                reached.add(imported)
                pending.append(imported)
    assert FACADE not in reached
    parts = {"runs", "scheduler", "passes", "run_host", "parking", "journal"}
    assert {f"_orchestration.{part}" for part in parts} <= reached
