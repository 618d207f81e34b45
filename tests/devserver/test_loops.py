"""The server and its workers run on uvloop where it is installed; DURABLE_UVLOOP=0 keeps
asyncio's own loop."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from durable.devserver import loops


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_run_uses_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("uvloop", reason="uvloop has no Windows build")
    monkeypatch.delenv(loops.UVLOOP_ENV, raising=False)
    assert loops.run(_loop_module()).startswith("uvloop")


def test_durable_uvloop_0_keeps_asyncios_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(loops.UVLOOP_ENV, "0")
    assert loops.loop_factory() is None
    assert loops.run(_loop_module()).startswith("asyncio")


def test_run_returns_the_result_and_closes_its_loop() -> None:
    async def main() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    loop = loops.run(main())
    assert loop.is_closed()


WHICH_LOOP = textwrap.dedent(
    """
    import asyncio
    from durable import Durable

    app = Durable(id="loops")

    async def loop_module():
        return type(asyncio.get_running_loop()).__module__

    @app.function(id="which", triggers=[{"event": "which"}], retries=0)
    async def which(ctx):
        return await ctx.step.run("loop", loop_module)
    """
)


@pytest.mark.parametrize("setting", ["1", "0"])
def test_the_worker_runs_steps_on_the_chosen_loop(tmp_path: Path, setting: str) -> None:
    """A real ``durable dev`` (server and forked worker): the step reads its loop's module."""
    from tests.support.harness import DevProcess, wait_for

    if setting == "1":
        pytest.importorskip("uvloop", reason="uvloop has no Windows build")
    (tmp_path / "app.py").write_text(WHICH_LOOP)
    dev = DevProcess(tmp_path, tmp_path / "app.py", reload=False, env={loops.UVLOOP_ENV: setting})
    dev.start()
    try:
        [event_id] = dev.send([{"name": "which"}])
        ended = ("completed", "failed")
        runs = wait_for(lambda: [r for r in dev.runs() if r["status"] in ended], 30, "the run")
        expected = "uvloop" if setting == "1" else "asyncio"
        assert runs[0]["output"].strip('"').startswith(expected), (event_id, runs[0])
    finally:
        dev.stop()
