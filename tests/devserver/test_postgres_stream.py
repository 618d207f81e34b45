"""Two real ``durable dev --db postgresql://...`` servers on one database: a live stream on one
shows the runs the other executed, up to ``completed``; a listing held up in the database does
not hold up the server (``/health`` answers meanwhile)."""

from __future__ import annotations

import json
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.support.harness import DevProcess, wait_for
from tests.support.postgres import postgres_database, postgres_url  # noqa: F401 (fixtures)

APP = textwrap.dedent(
    """
    from durable import Durable

    app = Durable(id="pgstream")


    def double(n):
        return n * 2


    @app.function(id="chain", triggers=[{"event": "chain/go"}])
    async def chain(ctx):
        one = await ctx.step.run("one", double, ctx.event.data["n"])
        return await ctx.step.run("two", double, one)
    """
)


def server(root: Path, url: str) -> DevProcess:
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.py").write_text(APP)
    return DevProcess(
        root, root / "app.py", reload=False, extra_args=["--db", url, "--retention", "0"]
    )


def sse(response: httpx.Response) -> Iterator[tuple[str, Any]]:
    """``(event, data)`` per SSE frame, ``("comment", text)`` per comment line."""
    event, data = None, []
    for line in response.iter_lines():
        if line.startswith(":"):
            yield "comment", line[1:].strip()
        elif line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data.append(line.removeprefix("data: "))
        elif line == "" and event is not None:
            yield event, json.loads("\n".join(data))
            event, data = None, []


def writers(url: str, run_ids: list[str]) -> dict[str, int]:
    """The pid of the server that last wrote each run (its final status: it executed it)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT runs.run_id, servers.pid FROM runs JOIN servers "
            "ON servers.server_id = runs.updated_by WHERE runs.run_id = ANY(%s)",
            (run_ids,),
        ).fetchall()
    return {str(run_id): int(pid) for run_id, pid in rows}


def test_a_stream_shows_runs_another_server_executed(
    tmp_path: Path,
    postgres_url: str,  # noqa: F811 (the fixture)
) -> None:
    watched = server(tmp_path / "a", postgres_url).start()
    worker = server(tmp_path / "b", postgres_url).start()
    try:
        completed: dict[str, dict[str, Any]] = {}
        with watched.client.stream("GET", "/api/stream", timeout=30) as response:
            frames = sse(response)
            assert next(frames) == ("comment", "connected")
            worker.send([{"name": "chain/go", "data": {"n": n}} for n in range(6)])
            for kind, data in frames:
                if kind == "run" and data["status"] == "completed":
                    completed[data["run_id"]] = data
                if len(completed) == 6:
                    break
        assert {data["function_id"] for data in completed.values()} == {"chain"}
        runs = {run["run_id"]: run for run in watched.runs(function="chain")}
        assert set(runs) == set(completed)  # the listing on A shows them all too
        assert sorted(run["output"] for run in runs.values()) == [0, 4, 8, 12, 16, 20]
        executed_by = writers(postgres_url, list(completed))
        assert worker.process is not None and watched.process is not None
        assert set(executed_by.values()) <= {worker.process.pid, watched.process.pid}
        # the events went to B, which ran (some of) them: A's stream heard those from the
        # database, since A's own orchestrator never touched them
        assert worker.process.pid in executed_by.values(), executed_by
    finally:
        watched.stop()
        worker.stop()


def test_a_listing_held_up_in_the_database_does_not_hold_up_health(
    tmp_path: Path,
    postgres_url: str,  # noqa: F811 (the fixture)
) -> None:
    dev = server(tmp_path / "a", postgres_url).start()
    try:
        dev.send({"name": "chain/go", "data": {"n": 1}})
        wait_for(lambda: dev.finished("chain", 1), 20, "the run to finish")
        listing: dict[str, Any] = {}

        def list_events() -> None:
            started = time.monotonic()
            answer = httpx.get(f"{dev.url}/api/events", timeout=10)
            listing.update(status=answer.status_code, took=time.monotonic() - started)

        with psycopg.connect(postgres_url) as conn:  # a long transaction holds the table
            conn.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
            thread = threading.Thread(target=list_events)
            thread.start()
            time.sleep(0.3)  # the listing waits on the lock now
            health_took = []
            for _ in range(5):
                started = time.monotonic()
                assert dev.get("/health")["status"] == "ok"
                health_took.append(time.monotonic() - started)
                time.sleep(0.1)
            assert "status" not in listing  # still waiting
            conn.rollback()  # released (under the 2 s lock timeout): the listing completes
        thread.join(10)
        assert listing["status"] == 200 and listing["took"] >= 0.8, listing
        assert max(health_took) < 0.5, health_took  # inline, it waited up to 2 s
    finally:
        output = dev.stop()
    assert "Traceback" not in output, output
