"""A checkpoint the server side cannot apply ends its pass: the worker is never left waiting."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import pytest

from durable._engine.protocol import ExecutionRequest
from durable.devserver.workers import WorkerProcess

APP = textwrap.dedent(
    """
    from durable import Durable

    app = Durable(id="cp")

    @app.function(id="two-steps", triggers=[{"event": "t/two"}])
    async def two_steps(ctx):
        await ctx.step.run("one", lambda: 1)
        return await ctx.step.run("two", lambda: 2)
    """
)


class BrokenHost:
    """An ExecutionHost whose checkpoints raise, as a bug on the server side would."""

    def __init__(self) -> None:
        self.checkpoints = 0

    def is_cancelled(self) -> bool:
        return False

    async def checkpoint(self, message: Any) -> Any:
        self.checkpoints += 1
        raise RuntimeError("the host could not apply this checkpoint")

    def log(self, line: Any) -> None:
        pass

    def step_started(self, notice: Any) -> None:
        pass


def test_a_checkpoint_that_raises_ends_the_pass_and_the_worker_serves_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "app.py").write_text(APP)

    async def scenario() -> tuple[int, bool]:
        worker = WorkerProcess([tmp_path / "app.py"], tmp_path, on_output=lambda line: None)
        await worker.start()
        host = BrokenHost()
        request = ExecutionRequest(
            run_id="run-1",
            function_id="two-steps",
            event={"name": "t/two", "data": {}, "id": "e1", "ts": 0},
            events=(),
            steps={},
        )
        try:
            with pytest.raises(RuntimeError, match="could not apply"):
                await asyncio.wait_for(worker.execute(request, host), 10)  # type: ignore[arg-type]
            return host.checkpoints, worker.alive
        finally:
            await worker.kill()

    checkpoints, alive = asyncio.run(scenario())
    assert checkpoints == 1  # the handler was told to stop: no second step was attempted
    assert alive
    assert any("checkpoint of run run-1 failed" in r.getMessage() for r in caplog.records)


def test_a_server_going_down_without_stopping_its_worker_ends_it(tmp_path: Path) -> None:
    """A server that fails while starting, its worker running, is torn down by cancelling
    its tasks (asyncio.run's clean-up): the socket reader ends the worker instead of waiting
    forever for it to exit (it exits only once that socket closes)."""
    (tmp_path / "app.py").write_text(APP)

    async def scenario() -> int | None:
        worker = WorkerProcess([tmp_path / "app.py"], tmp_path, on_output=lambda line: None)
        await worker.start()
        await asyncio.sleep(0.05)  # its socket reader waits for the next message
        tasks = list(worker._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
        assert worker.process is not None
        code = worker.process.poll()
        await worker.kill()  # (closes its end of the socket)
        return code

    assert asyncio.run(scenario()) is not None  # the process has ended
