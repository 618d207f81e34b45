"""Stored tracebacks start at the user's code; fixtures name project files relatively."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from durable._replay.fixtures import fixture_from_run, fixture_json
from durable._tracebacks import relative_paths
from durable.testing import TestEngine

APP = textwrap.dedent(
    """
    import json

    from durable import Context, Durable, NonRetriableError

    app = Durable(id="tb")


    def charge():
        raise NonRetriableError("card declined")


    def parse():
        try:
            json.loads("{nope")
        except ValueError as exc:
            raise RuntimeError("bad payload") from exc


    @app.function(id="step", triggers=[{"event": "step"}], retries=0)
    async def step(ctx: Context):
        await ctx.step.run("charge", charge)


    @app.function(id="chained", triggers=[{"event": "chained"}], retries=0)
    async def chained(ctx: Context):
        await ctx.step.run("parse", parse)


    @app.function(id="body", triggers=[{"event": "body"}], retries=0)
    async def body(ctx: Context):
        raise ValueError("body boom")
    """
)
ENGINE_MARKS = ("_core.py", "asyncio", "concurrent", "threading.py")


def line_of(text: str) -> int:
    """The 1-based line of APP holding ``text``."""
    return next(n for n, line in enumerate(APP.splitlines(), 1) if text in line)


@pytest.fixture
def app_module(tmp_path: Path) -> Iterator[ModuleType]:
    path = tmp_path / "tb_app.py"
    path.write_text(APP)
    spec = importlib.util.spec_from_file_location("tb_app_for_tracebacks", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def frames(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("File ")]


async def test_tracebacks_hold_no_engine_frames(app_module: ModuleType, tmp_path: Path) -> None:
    async with TestEngine(app_module.app) as t:
        await t.send([{"name": "step"}, {"name": "chained"}, {"name": "body"}])
        await t.settle()
        runs = {run.function_id: run for run in t.runs()}
    app_file = str(tmp_path / "tb_app.py")
    step_error = runs["step"].steps[0].error
    assert step_error is not None
    found = frames(step_error["traceback"])
    assert found == [f'File "{app_file}", line {line_of("card declined")}, in charge']
    assert frames(runs["step"].error["traceback"]) == found  # type: ignore[index]

    chained = runs["chained"].steps[0].error
    assert chained is not None
    text = chained["traceback"]
    assert "The above exception was the direct cause" in text
    assert (
        f'File "{app_file}", line {line_of("json.loads")}, in parse' in text
    )  # the cause: json's frames stay
    assert "json/decoder.py" in text
    assert f'File "{app_file}", line {line_of("bad payload")}, in parse' in text
    assert not any(mark in frame for frame in frames(text) for mark in ENGINE_MARKS)

    body_error = runs["body"].error
    assert body_error is not None
    assert frames(body_error["traceback"]) == [
        f'File "{app_file}", line {line_of("body boom")}, in body'
    ]


async def test_fixtures_name_project_files_relative_to_it(
    app_module: ModuleType, tmp_path: Path
) -> None:
    async with TestEngine(app_module.app) as t:
        await t.send({"name": "step"})
        await t.settle()
        (run,) = t.runs()
        record = t.store.get_run(run.run_id)
        assert record is not None
        fixture = fixture_from_run(record, t.store.get_steps(run.run_id), root=tmp_path)
    error = fixture["steps"]["charge"]["error"]
    assert frames(error["traceback"]) == [
        f'File "tb_app.py", line {line_of("card declined")}, in charge'
    ]
    assert str(tmp_path) not in fixture_json(fixture)


def test_only_paths_under_the_root_are_rewritten(tmp_path: Path) -> None:
    text = f'  File "{tmp_path}/a/b.py", line 1\n  File "/elsewhere/c.py", line 2\n'
    assert (
        relative_paths(text, tmp_path)
        == '  File "a/b.py", line 1\n  File "/elsewhere/c.py", line 2\n'
    )
