"""The database fails under a running server: a lock held too long, a full disk.

The server keeps serving, names the problem (API answers, ``/health``, the log), changes
nothing it could not commit, and resumes the runs whose writes were refused once the database
takes writes again.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from durable import Context, Durable
from tests.support.extra_functions import add_function
from tests.support.live import LiveServer, wait_for

extra = Durable(id="store-faults")


@extra.function(id="bulky", triggers=[{"event": "test/bulky"}])
async def bulky(ctx: Context) -> int:
    """Sleeps ``pause``, then a step returns ``size`` characters (a commit that needs space)."""
    await ctx.step.sleep("pause", ctx.event.data.get("pause", "1ms"))
    text = await ctx.step.run("fill", lambda: "x" * int(ctx.event.data.get("size", 10)))
    return len(text)


@contextmanager
def write_lock(path: str) -> Iterator[None]:
    """Hold SQLite's write lock on ``path`` from another connection."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def health(server: LiveServer) -> dict[str, Any]:
    response = server.client.get("/health")
    assert response.status_code == 200  # liveness: the process answers
    body: dict[str, Any] = response.json()
    return body


def set_max_pages(server: LiveServer, pages: int | None) -> None:
    """Cap the server's database at ``pages`` pages (None: its current size): a full disk."""

    async def cap() -> None:
        db = server.ctx.store._db  # type: ignore[attr-defined]
        count = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count={pages or count}")

    server.call(cap)


def test_a_locked_database_is_reported_and_the_due_run_resumes_after(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    run_id = live_server.start("test/pipeline", {"n": 1, "pause": "300ms"})
    live_server.wait_run(run_id, "sleeping")
    db = str(live_server.ctx.store.path)  # type: ignore[attr-defined]
    with caplog.at_level(logging.ERROR, "durable.scheduler"), write_lock(db):
        # the sleep falls due while another process holds the write lock
        problem = wait_for(lambda: health(live_server).get("store_error"), 10)
        assert problem["code"] == "database_locked"
        assert "locked" in problem["message"] and db in problem["message"]
        assert health(live_server)["status"] == "degraded"
        # reads still work; a write is refused with the reason, not a bare 500
        assert live_server.get(f"/api/runs/{run_id}")["status"] in ("sleeping", "running")
        refused = live_server.client.post("/api/events", json={"name": "test/pipeline"})
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "database_locked"
    assert any("locked" in record.getMessage() for record in caplog.records)
    run = live_server.wait_run(run_id, "completed", timeout=15)
    assert run["output"] == {"a": 2, "b": 4}
    wait_for(lambda: health(live_server)["status"] == "ok", 10)
    # the refused event was not half-stored
    names = [e["name"] for e in live_server.get("/api/events", limit=100)["events"]]
    assert names.count("test/pipeline") == 1


def test_a_full_disk_answers_507_and_the_refused_commit_is_retried(
    live_server: LiveServer,
) -> None:
    add_function(live_server, bulky)
    run_id = live_server.start("test/bulky", {"pause": "300ms", "size": 400_000})
    live_server.wait_run(run_id, "sleeping")
    set_max_pages(live_server, None)  # the database may not grow any more
    refused = live_server.client.post(
        "/api/events",
        json=[{"name": "test/chain", "data": {"pad": "y" * 200_000}} for _ in range(2)],
    )
    assert refused.status_code == 507
    assert refused.json()["error"]["code"] == "database_full"
    assert "database or disk is full" in refused.json()["error"]["message"]
    # the run wakes, its step's result cannot be committed: it is not lost, it waits
    problem = wait_for(lambda: health(live_server).get("store_error"), 10)
    assert problem["code"] == "database_full"
    assert live_server.get(f"/api/runs/{run_id}")["status"] not in ("failed", "completed")
    set_max_pages(live_server, 1_000_000)  # space freed
    run = live_server.wait_run(run_id, "completed", timeout=15)
    assert run["output"] == 400_000
    assert [s["status"] for s in run["steps"]] == ["completed", "completed"]
    # the refused batch left nothing behind: no event, no run
    assert all(e["name"] != "test/chain" for e in live_server.get("/api/events")["events"])
    assert live_server.get("/api/runs", function="chain")["runs"] == []
