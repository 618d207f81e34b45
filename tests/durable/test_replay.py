"""Replay of fixtures on the engine of ``durable.testing`` (``durable._replay.replay``).

One function, ``order``, in several versions: the recording below comes from the first; the
others rename, add, remove or reorder steps, or change a step's kind, as a deploy might.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from durable import Context, Durable, NonRetriableError
from durable._engine.protocol import MemoState, MemoStep
from durable._replay.fixture_schema import InvalidFixtureError, check_fixture, load_fixture
from durable._replay.fixtures import fixture_from_run
from durable._replay.replay import _FixtureMocks, replay_fixture, replay_fixture_async
from durable.testing import TestEngine
from durable.testing import replay_fixture as replay_file

Handler = Callable[[Context], Awaitable[Any]]
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z

EVENT = {"name": "order/created", "data": {"orderId": "o-1"}, "id": "ev-1", "ts": START_MS}
FIXTURE: dict[str, Any] = {
    "function": "order",
    "event": EVENT,
    "steps": {
        "fetch": {"kind": "run", "output": {"amount": 42}},
        "pause": {"kind": "sleep", "output": None},
        "charge": {"kind": "run", "output": "ch_1"},
    },
    "expect": {
        "status": "completed",
        "output": {"charge": "ch_1", "amount": 42},
        "steps": ["fetch", "pause", "charge"],
    },
}


class Calls:
    """What the step bodies did: replay must not run recorded steps."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def body(self, name: str, value: Any) -> Callable[[], Any]:
        def run() -> Any:
            self.names.append(name)
            return value

        return run


def make_app(handler: Handler, **options: Any) -> Durable:
    """A fresh app whose function ``order`` is ``handler``."""
    app = Durable(id="replay-tests")
    app.function(
        id="order",
        triggers=[{"event": "order/created"}],
        cancel_on=[{"event": "order/cancelled", "if": "event.data.orderId == async.data.orderId"}],
        retries=0,
        **options,
    )(handler)
    return app


def original(calls: Calls, sleep: str = "3d") -> Durable:
    """The recorded version: fetch, pause, charge."""

    async def order(ctx: Context) -> dict[str, Any]:
        fetched = await ctx.step.run("fetch", calls.body("fetch", {"amount": 7}))
        await ctx.step.sleep("pause", sleep)
        charge = await ctx.step.run("charge", calls.body("charge", "ch_real"))
        return {"charge": charge, "amount": fetched["amount"]}

    return make_app(order)


def fixture(**changes: Any) -> dict[str, Any]:
    """A deep copy of :data:`FIXTURE` with top-level ``changes``."""
    data = copy.deepcopy(FIXTURE)
    data.update(copy.deepcopy(changes))
    return data


# -- green ------------------------------------------------------------------------------------


def test_recorded_fixture_replays_green_without_running_step_bodies() -> None:
    calls = Calls()
    result = replay_fixture(fixture(), original(calls), name="order.json")
    assert (result.ok, result.kind) == (True, "pass"), result.message
    assert calls.names == []  # recorded results stood in for every body
    assert [key for key, _ in result.actual] == ["fetch", "pause", "charge"]
    assert result.actual_status == "completed"


def test_multi_day_sleeps_take_no_real_time() -> None:
    calls = Calls()
    data = fixture()
    del data["steps"]["pause"]  # the sleep really happens, on the virtual clock
    began = time.perf_counter()
    result = replay_fixture(data, original(calls, sleep="30d"), name="long.json")
    assert result.ok, result.message
    assert time.perf_counter() - began < 1.0


async def test_steps_left_out_of_the_fixture_run_for_real() -> None:
    calls = Calls()
    data = fixture()
    del data["steps"]["charge"]
    data["expect"]["output"] = {"charge": "ch_real", "amount": 42}
    result = await replay_fixture_async(data, original(calls), name="partial.json")
    assert result.ok, result.message
    assert calls.names == ["charge"]


def test_sync_replay_inside_a_running_loop_uses_a_thread() -> None:
    async def inside() -> bool:
        return replay_fixture(fixture(), original(Calls()), name="x").ok

    assert asyncio.run(inside()) is True


# -- mismatch ---------------------------------------------------------------------------------


def test_status_mismatch_names_both_statuses() -> None:
    async def order(ctx: Context) -> None:
        await ctx.step.run("fetch", lambda: None)
        await ctx.step.sleep("pause", "1d")
        await ctx.step.run("charge", lambda: None)
        raise NonRetriableError("refund window closed")

    result = replay_fixture(fixture(), make_app(order), name="order.json")
    assert (result.ok, result.kind) == (False, "mismatch")
    assert "status: expected 'completed', got 'failed'" in result.message
    assert "refund window closed" in result.message
    assert '-status: "completed"' in result.diff
    assert '+status: "failed"' in result.diff


def test_output_mismatch_shows_a_unified_diff() -> None:
    calls = Calls()
    data = fixture()
    data["expect"]["output"] = {"charge": "ch_1", "amount": 43}
    result = replay_fixture(data, original(calls), name="order.json")
    assert result.kind == "mismatch"
    assert result.message.startswith("order.json: output differs")
    assert '-  "amount": 43,' in result.diff
    assert '+  "amount": 42,' in result.diff
    assert result.diff.splitlines()[0] == "--- expected (order.json)"


def test_output_is_not_compared_when_the_fixture_leaves_it_out() -> None:
    data = fixture()
    del data["expect"]["output"]
    assert replay_fixture(data, original(Calls()), name="x").ok


def test_json_equality_of_outputs() -> None:
    from durable._replay.replay import same_json

    assert same_json({"a": [1, 2.0]}, {"a": [1.0, 2]})
    assert not same_json(True, 1)
    assert not same_json({"a": 1}, {"a": 1, "b": None})
    assert not same_json([1], [1, 1])


# -- divergence -------------------------------------------------------------------------------


def version(*calls_: tuple[str, str]) -> Durable:
    """A version of ``order`` calling ``(kind, key)`` steps in this order."""

    async def order(ctx: Context) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for kind, key in calls_:
            if kind == "sleep":
                await ctx.step.sleep(key, "1d")
            else:
                results[key] = await ctx.step.run(key, lambda key=key: f"real-{key}")
        return {"charge": results.get("charge"), "amount": 42}

    return make_app(order)


@pytest.mark.parametrize(
    ("steps", "first", "words", "actual"),
    [
        pytest.param(
            [("run", "fetch"), ("sleep", "pause"), ("run", "charge-card")],
            "charge",
            ["'charge' was renamed to 'charge-card'", "or 'charge-card' was added before it"],
            "fetch (run), pause (sleep), charge-card (run)",
            id="renamed",
        ),
        pytest.param(
            [("run", "fetch"), ("run", "audit"), ("sleep", "pause"), ("run", "charge")],
            "pause",
            ["'audit' was added before it", "add new steps after the recorded ones"],
            "fetch (run), audit (run)",
            id="added-before",
        ),
        pytest.param(
            [("run", "fetch"), ("sleep", "pause"), ("run", "charge"), ("run", "notify")],
            "notify",
            ["step 'notify' was added after the recorded steps"],
            "fetch (run), pause (sleep), charge (run), notify (run)",
            id="added-after",
        ),
        pytest.param(
            [("sleep", "pause"), ("run", "charge")],
            "fetch",
            ["step 'fetch' was removed (the code goes on with 'pause')"],
            "pause (sleep), charge (run)",
            id="removed",
        ),
        pytest.param(
            [("run", "fetch"), ("sleep", "pause")],
            "charge",
            ["the code no longer reaches step 'charge'"],
            "fetch (run), pause (sleep)",
            id="removed-last",
        ),
        pytest.param(
            [("run", "fetch"), ("run", "charge"), ("sleep", "pause")],
            "pause",
            ["steps were reordered", "calls 'pause' here, the code calls 'charge'"],
            "fetch (run), charge (run), pause (sleep)",
            id="reordered",
        ),
        pytest.param(
            [("run", "fetch"), ("run", "pause"), ("run", "charge")],
            "pause",
            ["'pause' was recorded as a 'sleep' step but the code now calls step.run()"],
            "fetch (run), pause (run), charge (run)",
            id="kind-changed",
        ),
    ],
)
def test_divergence_names_the_fixture_and_the_first_diverging_step(
    steps: list[tuple[str, str]], first: str, words: list[str], actual: str
) -> None:
    result = replay_fixture(fixture(), version(*steps), name="fixtures/order.json")
    assert (result.ok, result.kind) == (False, "divergence"), result.message
    assert result.first_divergence == first
    first_line = result.message.splitlines()[0]
    assert first_line.startswith("fixtures/order.json: the code's steps diverge")
    assert f"{first!r}" in first_line
    for text in words:
        assert text in result.message
    assert "  recorded: fetch (run), pause (sleep), charge (run)" in result.message
    assert f"  code:     {actual}" in result.message
    assert "--update" in result.message  # the fix is explained
    assert result.diff.startswith("--- expected (fixtures/order.json)")


def test_unrecorded_new_steps_are_refused_not_run() -> None:
    calls = Calls()

    async def order(ctx: Context) -> None:
        await ctx.step.run("fetch", calls.body("fetch", 1))
        await ctx.step.run("send-invoice", calls.body("send-invoice", 1))

    result = replay_fixture(fixture(), make_app(order), name="x")
    assert result.kind == "divergence"
    assert calls.names == []  # neither the recorded nor the unknown step ran


def test_strict_replay_refuses_unknown_steps_even_with_nothing_recorded() -> None:
    calls = Calls()

    async def order(ctx: Context) -> None:
        await ctx.step.run("fetch", calls.body("fetch", 1))
        await ctx.step.run("send-invoice", calls.body("send-invoice", 1))

    data = fixture(steps={}, expect={"status": "completed", "steps": ["fetch"]})
    result = replay_fixture(data, make_app(order), name="x")
    assert result.kind == "divergence" and result.first_divergence == "send-invoice"
    assert calls.names == ["fetch"]  # listed but not recorded: it ran; the unknown one did not


def test_strict_mocks_refuse_unknown_steps_through_every_lookup() -> None:
    recorded = {"fetch": MemoStep("fetch", None, MemoState.COMPLETED, output=1)}
    mocks = _FixtureMocks(recorded, {"fetch", "pause"})
    assert mocks["fetch"] is mocks.get("fetch") is recorded["fetch"]
    assert "pause" not in mocks and mocks.get("pause") is None  # listed: it runs for real
    with pytest.raises(KeyError):
        mocks["pause"]
    assert "new" in mocks
    for refusal in (mocks["new"], mocks.get("new")):
        assert refusal.state is MemoState.FAILED and refusal.error is not None
        assert refusal.error["name"] == "ReplayDivergence"
    assert list(mocks) == ["fetch"] and len(mocks) == 1


async def test_start_run_keeps_the_mocks_mapping_it_is_given() -> None:
    """Mocks may compute their answers (replay's strict mode): start_run must not copy them."""

    class Everything(Mapping[str, MemoStep]):
        def __getitem__(self, key: str) -> MemoStep:
            return MemoStep(key, None, MemoState.COMPLETED, output={"amount": len(key)})

        def __iter__(self) -> Iterator[str]:
            return iter(())

        def __len__(self) -> int:
            return 0

    calls = Calls()
    async with TestEngine(original(calls), start=START_MS / 1000) as engine:
        record = engine.orchestrator.start_run("order", dict(EVENT), mocks=Everything())
        await engine.settle()
        await engine.advance("3d")
        run = engine.run(record.run_id)
    assert calls.names == [] and run.status == "completed", run
    assert run.output == {"charge": {"amount": 6}, "amount": 5}


# -- later events, cancellation ---------------------------------------------------------------


def waiting_app(calls: Calls) -> Durable:
    async def order(ctx: Context) -> Any:
        await ctx.step.run("fetch", calls.body("fetch", 1))
        approval = await ctx.step.wait_for_event(
            "approval",
            event="order/approved",
            timeout="7d",
            if_="event.data.orderId == async.data.orderId",
        )
        return approval.data if approval is not None else "timed out"

    return make_app(order)


def waiting_fixture(later: list[dict[str, Any]], output: Any) -> dict[str, Any]:
    return fixture(
        steps={"fetch": {"kind": "run", "output": 1}},
        later_events=later,
        expect={"status": "completed", "output": output, "steps": ["fetch", "approval"]},
    )


def test_later_events_arrive_at_their_time_for_wait_for_event() -> None:
    approval = {"name": "order/approved", "data": {"orderId": "o-1", "by": "ada"}}
    data = waiting_fixture([{"after": "2d", "event": approval}], {"orderId": "o-1", "by": "ada"})
    result = replay_fixture(data, waiting_app(Calls()), name="wait.json")
    assert result.ok, result.message
    # after the 7-day timeout the approval comes too late
    late = waiting_fixture([{"after": "8d", "event": approval}], {"orderId": "o-1", "by": "ada"})
    result = replay_fixture(late, waiting_app(Calls()), name="late.json")
    assert result.kind == "mismatch"
    assert '+output: "timed out"' in result.diff


def test_later_event_cancels_the_run_through_cancel_on() -> None:
    calls = Calls()
    data = fixture(
        steps={"fetch": {"kind": "run", "output": {"amount": 42}}},
        later_events=[
            {"after": "1h", "event": {"name": "order/cancelled", "data": {"orderId": "o-2"}}},
            {"after": "2h", "event": {"name": "order/cancelled", "data": {"orderId": "o-1"}}},
        ],
        expect={"status": "cancelled", "steps": ["fetch", "pause"]},
    )
    result = replay_fixture(data, original(calls), name="cancel.json")
    assert result.ok, result.message
    assert calls.names == []  # cancelled during the 3-day sleep: charge never ran


def test_cancel_field_cancels_the_run_at_its_time() -> None:
    data = fixture(
        steps={"fetch": {"kind": "run", "output": {"amount": 42}}},
        cancel={"after": "1d", "reason": "customer called"},
        expect={"status": "cancelled", "steps": ["fetch", "pause"]},
    )
    assert replay_fixture(data, original(Calls()), name="x").ok
    data["cancel"]["after"] = "4d"  # the 3-day sleep is over by then
    result = replay_fixture(data, original(Calls()), name="x")
    assert result.kind == "divergence"
    assert result.first_divergence == "charge"


def test_expecting_an_unfinished_run_stops_after_the_last_later_event() -> None:
    data = fixture(
        steps={"fetch": {"kind": "run", "output": {"amount": 42}}},
        expect={"status": "sleeping", "steps": ["fetch", "pause"]},
    )
    assert replay_fixture(data, original(Calls()), name="x").ok


# -- invalid fixtures -------------------------------------------------------------------------


def test_invalid_fixtures_are_reported_not_replayed() -> None:
    data = fixture()
    del data["function"]
    data["steps"]["fetch"] = {"kind": "run"}
    result = replay_fixture(data, original(Calls()), name="bad.json")
    assert result.kind == "invalid"
    assert "bad.json: function: missing field" in result.message
    assert "bad.json: steps.fetch: needs exactly one of 'output' or 'error'" in result.message


def test_unknown_function_is_invalid_and_lists_the_known_ones() -> None:
    result = replay_fixture(fixture(function="ordr"), original(Calls()), name="f.json")
    assert result.kind == "invalid"
    assert "no function 'ordr' in the app (it has: order)" in result.message


def test_load_fixture_names_file_line_and_field(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"function": "order",\n  "event": {"name": }\n}')
    with pytest.raises(InvalidFixtureError) as info:
        load_fixture(broken)
    assert str(info.value) == f"{broken}: line 2, column 21: invalid JSON: Expecting value"
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(fixture(steps=[], later_events=[{"after": True}])))
    with pytest.raises(InvalidFixtureError) as info:
        load_fixture(wrong)
    assert f"{wrong}: steps: must be an object by step key, got an array" in str(info.value)
    assert "later_events[0].after: must be a duration" in str(info.value)
    assert "later_events[0].event: missing field" in str(info.value)


def test_check_fixture_covers_the_cancel_field() -> None:
    problems = [str(p) for p in check_fixture(fixture(cancel={"after": "soon", "why": 1}))]
    assert problems[0].startswith("cancel.why: unknown field")
    assert problems[1].startswith("cancel.after: ")
    assert [str(p) for p in check_fixture(fixture(cancel=[]))] == [
        'cancel: must be {"after": "1h"}, got an array'
    ]


# -- --update ---------------------------------------------------------------------------------


def test_update_rewrites_expectations_and_then_replays_green() -> None:
    calls = Calls()
    new_code = version(("run", "fetch"), ("sleep", "pause"), ("run", "charge-card"))
    result = replay_fixture(fixture(), new_code, name="x", update=True)
    assert result.updated_fixture is not None
    assert any("expect.steps" in change for change in result.changes)
    assert "steps: recorded charge-card" in result.changes
    assert "steps: dropped charge" in result.changes
    new = result.updated_fixture
    assert new["expect"]["steps"] == ["fetch", "pause", "charge-card"]
    assert new["steps"]["charge-card"] == {"kind": "run", "output": "real-charge-card"}
    assert new["expect"]["output"] == {"charge": None, "amount": 42}
    assert check_fixture(new) == []
    again = replay_fixture(new, new_code, name="x")
    assert again.ok, again.message
    assert calls.names == []


def test_update_of_a_green_fixture_changes_nothing() -> None:
    result = replay_fixture(fixture(), original(Calls()), name="x", update=True)
    assert result.ok and result.changes == []
    assert result.updated_fixture is not None
    assert result.updated_fixture["expect"] == FIXTURE["expect"]


# -- export -> replay -------------------------------------------------------------------------


async def test_exported_runs_replay_green() -> None:
    """Every way a run can end, exported by ``fixture_from_run``, replays green."""
    calls = Calls()
    app = original(calls)
    fixtures: dict[str, dict[str, Any]] = {}
    async with TestEngine(app, start=START_MS / 1000) as engine:

        def export(order_id: str) -> None:
            record = engine.store.get_run(runs[order_id].run_id)
            assert record is not None
            steps = engine.store.get_steps(record.run_id)
            exported = fixture_from_run(record, steps, find_event=engine.store.get_event)
            fixtures[order_id] = json.loads(json.dumps(exported))

        for n in range(1, 5):
            await engine.send({"name": "order/created", "data": {"orderId": f"o-{n}"}})
        await engine.advance("1h")
        await engine.send({"name": "order/cancelled", "data": {"orderId": "o-2"}})
        runs = {run.event.data["orderId"]: run for run in engine.runs()}
        await engine.cancel(runs["o-3"].run_id, "by hand")
        await engine.advance("1d")
        export("o-4")  # still sleeping
        await engine.advance("2d")
        for order_id in ("o-1", "o-2", "o-3"):
            export(order_id)
    assert fixtures["o-2"]["later_events"][0]["after"] == "1h"
    assert fixtures["o-3"]["cancel"] == {"after": "1h", "reason": "by hand"}
    statuses = {key: value["expect"]["status"] for key, value in fixtures.items()}
    assert statuses == {
        "o-1": "completed",
        "o-2": "cancelled",
        "o-3": "cancelled",
        "o-4": "sleeping",
    }
    calls.names.clear()
    for order_id, data in fixtures.items():
        assert check_fixture(data) == [], order_id
        result = await replay_fixture_async(data, app, name=order_id)
        assert result.ok, result.message
    assert calls.names == []  # o-4's pause was still running: nothing after it replays


async def test_export_of_a_cancel_on_run_does_not_read_the_cancel_reason() -> None:
    """The cancelling event is stored as data: rewording the reason changes no fixture."""
    app = original(Calls())
    async with TestEngine(app, start=START_MS / 1000) as engine:
        await engine.send({"name": "order/created", "data": {"orderId": "o-1"}})
        await engine.advance("90m")
        [run] = engine.runs()
        run_id = run.run_id
        cancel = {"name": "order/cancelled", "data": {"orderId": "o-1"}, "id": "ev-cancel"}
        await engine.send(cancel)
        record = engine.store.get_run(run_id)
        assert record is not None and record.status == "cancelled"
        assert record.cancel_event_id == "ev-cancel"
        record.cancel_reason = "the order was cancelled"  # worded otherwise, or not at all
        exported = fixture_from_run(
            record, engine.store.get_steps(run_id), find_event=engine.store.get_event
        )
    later = exported["later_events"]
    assert [(item["after"], item["event"]["id"]) for item in later] == [("1h30m", "ev-cancel")]
    assert "cancel" not in exported
    result = await replay_fixture_async(json.loads(json.dumps(exported)), app, name="o-1")
    assert result.ok, result.message


# -- the pytest helper ------------------------------------------------------------------------


def test_testing_replay_fixture_passes_and_raises_with_the_divergence(tmp_path: Path) -> None:
    path = tmp_path / "order.json"
    path.write_text(json.dumps(FIXTURE))
    assert replay_file(path, original(Calls())).ok
    renamed = version(("run", "fetch"), ("sleep", "pause"), ("run", "charge-card"))
    with pytest.raises(AssertionError) as info:
        replay_file(path, renamed)
    message = str(info.value)
    assert message.startswith(f"{path}: the code's steps diverge from the recording at step #3")
    assert "'charge' was renamed to 'charge-card'" in message
    assert "+3. charge-card (run)" in message  # the diff comes along
    path.write_text("[]")
    with pytest.raises(AssertionError, match=r"invalid fixture: .*must be a JSON object"):
        replay_file(path, renamed)


def test_a_fixture_is_checked_once_whichever_way_it_comes_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import durable._replay.fixture_schema as schema
    import durable._replay.replay as replay_module

    calls: list[int] = []
    check = schema.check_fixture

    def counting(data: Any) -> list[Any]:
        calls.append(1)
        return check(data)

    monkeypatch.setattr(schema, "check_fixture", counting)
    monkeypatch.setattr(replay_module, "check_fixture", counting)
    path = tmp_path / "order.json"
    path.write_text(json.dumps(FIXTURE))
    assert replay_file(path, original(Calls())).ok  # load_fixture checks it
    assert len(calls) == 1
    assert replay_fixture(fixture(), original(Calls()), name="x").ok  # a dict: checked here
    assert len(calls) == 2
    result = replay_fixture(fixture(expect={}), original(Calls()), name="x")
    assert result.kind == "invalid" and "expect.status: missing field" in result.message
