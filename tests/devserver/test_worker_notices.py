"""A step's started notice is on the socket before its body runs, with one pass or many."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from durable import Durable
from durable._engine.protocol import ExecutionRequest
from durable._engine.wire import request_to_wire
from durable.devserver import worker as worker_module
from durable.devserver.framing import decode

app = Durable(id="notices")

#: run id -> the execution numbers of the notices on the server's end of the socket when
#: that run's body began (run ``rN`` is execution ``N``)
seen_by_body: dict[str, list[int]] = {}
server_end: list[socket.socket] = []


def _read_written() -> list[dict[str, Any]]:
    """Everything the worker has written so far (without waiting)."""
    data = b""
    while True:
        try:
            chunk = server_end[0].recv(65536, socket.MSG_DONTWAIT)
        except BlockingIOError:
            break
        data += chunk
    return [decode(line) for line in data.splitlines(keepends=True)]


written: list[dict[str, Any]] = []


@app.function(id="noted", triggers=[{"event": "go"}], retries=0)
async def noted(ctx: Any) -> None:
    run_id = ctx.run_id

    async def body() -> None:
        written.extend(_read_written())
        seen_by_body[run_id] = [m["x"] for m in written if m["t"] == "start"]

    await ctx.step.run("first", body)


def _request(run_id: str) -> dict[str, Any]:
    return request_to_wire(
        ExecutionRequest(
            run_id=run_id,
            function_id="noted",
            event={"name": "go", "data": {}, "id": f"e-{run_id}", "ts": 0},
            events=(),
            steps={},
            attempt=0,
            state_bytes=0,
            step_count=0,
        )
    )


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_each_body_starts_after_its_notice_is_written_and_the_notices_share_a_write(
    loop: str,
) -> None:
    """On both loops (uvloop runs timers and I/O callbacks in another order)."""
    factory = None
    if loop == "uvloop":
        factory = pytest.importorskip("uvloop", reason="no uvloop on Windows").new_event_loop
    seen_by_body.clear()
    written.clear()
    with asyncio.Runner(loop_factory=factory) as runner:
        writes = runner.run(_five_passes())
    # Every body saw its own pass's notice already on the socket ...
    assert set(seen_by_body) == {f"r{n}" for n in range(5)}
    for run_id, executions in seen_by_body.items():
        assert int(run_id[1:]) in executions, (run_id, executions)
    # ... and the five notices went out together, not one system call each (the first one
    # at once, the socket having been quiet: see test_outbox).
    notice_writes = [w.count(b'"t":"start"') for w in writes if b'"t":"start"' in w]
    assert notice_writes == [1, 4]


async def _five_passes() -> list[bytes]:
    """Five passes in flight in one worker; every write the worker made."""
    ours, theirs = socket.socketpair()
    server_end[:] = [ours]
    _, writer = await asyncio.open_connection(sock=theirs)
    worker = worker_module.Worker(dict(app.functions), writer)
    worker.outbox.linger = 60.0  # (a loaded machine must not split the block by its age)
    writes: list[bytes] = []
    real_write = writer.write

    def counting_write(data: bytes | bytearray | memoryview) -> None:
        writes.append(bytes(data))
        real_write(data)

    writer.write = counting_write  # type: ignore[method-assign,assignment]
    runs = [f"r{n}" for n in range(5)]
    tasks = [asyncio.ensure_future(worker._execute(n, _request(r))) for n, r in enumerate(runs)]
    worker.tasks.update(tasks)  # five passes in flight, as serve() keeps them
    await asyncio.sleep(0.05)  # every body has run; each now waits for its checkpoint's reply
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    writer.close()
    ours.close()
    return writes


def test_warm_up_loads_what_a_first_pass_would() -> None:
    """The worker calls warm_up() once it has said hello: the first pass then finds the step
    context loaded (a fresh interpreter, so that nothing else loaded it first)."""
    import subprocess
    import sys

    code = (
        "import sys, durable.devserver.worker as w\n"
        "before = 'durable._engine.context' in sys.modules\n"
        "w.warm_up()\n"
        "print(before, 'durable._engine.context' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
