"""A stand-in for tui/api.py's client with canned, fixed-time data (for stable snapshots)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from durable.tui.api import Disconnected, DurableClient, RequestFailed, RunPage
from durable.tui.sse import StreamMessage

NOW = datetime(2025, 1, 31, 12, 0, 30, tzinfo=UTC)
URL = "http://127.0.0.1:8288"


def at(seconds: float) -> str:
    """``2025-01-31T12:00:SS.mmmZ``: seconds after noon."""
    minutes, secs = divmod(seconds, 60)
    return f"2025-01-31T12:{int(minutes):02d}:{secs:06.3f}Z"


def attempt(start: float, end: float | None, error: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "started_at": at(start),
        "ended_at": at(end) if end is not None else None,
        "error": error,
    }


def step(
    key: str, kind: str, status: str, start: float, end: float | None, **extra: Any
) -> dict[str, Any]:
    return {
        "key": key,
        "id": key.split(":")[0],
        "kind": kind,
        "status": status,
        "attempts": extra.pop("attempts", []),
        "output": extra.pop("output", None),
        "error": extra.pop("error", None),
        "started_at": at(start),
        "ended_at": at(end) if end is not None else None,
        "wake_at": extra.pop("wake_at", None),
        "detail": extra.pop("detail", {}),
    }


def run(
    run_id: str, function: str, status: str, start: float, end: float | None, **extra: Any
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "function_id": function,
        "status": status,
        "event": extra.pop("event", {"name": "order/created", "data": {"orderId": "o-1"}}),
        "output": extra.pop("output", None),
        "error": extra.pop("error", None),
        "started_at": at(start),
        "ended_at": at(end) if end is not None else None,
        "created_at": at(start),
        "cancel_reason": extra.pop("cancel_reason", None),
        "steps": extra.pop("steps", []),
    }


BOOM = {"name": "RuntimeError", "message": "card service unavailable"}
TRACEBACK = (
    'Traceback (most recent call last):\n  File "shop/orders.py", line 42, in charge\n'
    '    raise SmtpError("mailbox full")\nSmtpError: mailbox full'
)
RUNS = [
    run(
        "01JHQ5Z8R6N000000000000005",
        "process-order",
        "running",
        25,
        None,
        steps=[
            step("reserve", "run", "completed", 25, 25.4, attempts=[attempt(25, 25.4)]),
            step("charge", "run", "running", 25.5, None, attempts=[]),
        ],
    ),
    run(
        "01JHQ5Z8R6N000000000000004",
        "send-receipt",
        "failed",
        20,
        22.5,
        event={"name": "order/paid", "data": {"orderId": "o-3", "email": "ada@example.com"}},
        error={
            "name": "StepError",
            "message": "step 'email' failed: mailbox full",
            "traceback": TRACEBACK,
        },
        steps=[
            step(
                "email",
                "run",
                "failed",
                20,
                22.5,
                error={"name": "SmtpError", "message": "mailbox full"},
                attempts=[
                    attempt(20, 20.5, {"name": "SmtpError", "message": "mailbox full"}),
                    attempt(22, 22.5, {"name": "SmtpError", "message": "mailbox full"}),
                ],
            )
        ],
    ),
    run(
        "01JHQ5Z8R6N000000000000003",
        "process-order",
        "cancelled",
        12,
        18,
        cancel_reason="cancel_on: event order/cancelled (01JHQ5ZCANCEL000000000000)",
        steps=[
            step("reserve", "run", "completed", 12, 12.3, attempts=[attempt(12, 12.3)]),
            step(
                "await-payment",
                "wait_for_event",
                "waiting",
                12.3,
                18,
                detail={"event": "payment/settled"},
            ),
        ],
    ),
    run(
        "01JHQ5Z8R6N000000000000002",
        "nightly-report",
        "sleeping",
        5,
        None,
        event={"name": "durable/scheduled.timer", "data": {"cron": "0 2 * * *"}},
        steps=[
            step("collect", "run", "completed", 5, 6, attempts=[attempt(5, 6)]),
            step(
                "cool-down",
                "sleep",
                "sleeping",
                6,
                None,
                wake_at="2025-01-31T13:00:06.000Z",
                detail={"until": "2025-01-31T13:00:06.000Z"},
            ),
        ],
    ),
    run(
        "01JHQ5Z8R6N000000000000001",
        "process-order",
        "completed",
        0,
        10,
        output={"orderId": "o-1", "charged": 42.5, "shipped": True},
        steps=[
            step("reserve", "run", "completed", 0, 0.5, attempts=[attempt(0, 0.5)], output=True),
            step(
                "charge",
                "run",
                "completed",
                0.5,
                5,
                output={"charged": 42.5},
                attempts=[attempt(0.5, 1, BOOM), attempt(2, 2.5, BOOM), attempt(4.5, 5)],
            ),
            step(
                "await-shipment",
                "wait_for_event",
                "completed",
                5,
                8,
                detail={"event": "order/shipped"},
                output={"name": "order/shipped"},
            ),
            step("cool-down", "sleep", "completed", 8, 9.5, detail={"until": at(9.5)}),
            step("notify", "run", "completed", 9.5, 10, attempts=[attempt(9.5, 10)]),
        ],
    ),
]
LOGS = [
    {"ts": at(0.1), "level": "INFO", "message": "processing order o-1", "step": None},
    {"ts": at(0.6), "level": "WARNING", "message": "card service slow, retrying", "step": "charge"},
    {"ts": at(4.9), "level": "INFO", "message": "charged 42.50 EUR", "step": "charge"},
    {"ts": at(9.9), "level": "INFO", "message": "receipt queued", "step": "notify"},
]
EVENTS = [
    {
        "name": "order/created",
        "id": "01JHQ5Z8EV0000000000000003",
        "data": {"orderId": "o-4"},
        "ts": 1738324825000,
        "run_ids": ["01JHQ5Z8R6N000000000000005"],
        "skipped": None,
    },
    {
        "name": "order/paid",
        "id": "01JHQ5Z8EV0000000000000002",
        "data": {"orderId": "o-3", "email": "ada@example.com"},
        "ts": 1738324820000,
        "run_ids": ["01JHQ5Z8R6N000000000000004"],
        "skipped": None,
    },
    {
        "name": "order/created",
        "id": "01JHQ5Z8EV0000000000000001",
        "data": {"orderId": "o-1"},
        "ts": 1738324800000,
        "run_ids": [],
        "skipped": "idempotency: process-order already ran for key 'o-1'",
    },
]
FUNCTIONS = {
    "functions": [
        {
            "id": "process-order",
            "app_id": "shop",
            "name": "process-order",
            "triggers": [{"event": "order/created"}],
            "config": {
                "retries": 4,
                "concurrency": [{"limit": 10}],
                "idempotency": "event.data.orderId",
                "cancel_on": [
                    {"event": "order/cancelled", "if": "event.data.orderId == async.data.orderId"}
                ],
                "timeouts": {"finish": "30m"},
            },
            "file": "shop/orders.py",
            "line": 12,
        },
        {
            "id": "send-receipt",
            "app_id": "shop",
            "name": "send-receipt",
            "triggers": [
                {"event": "order/paid"},
                {"event": "user/action", "if": "event.data.amount > 100"},
            ],
            "config": {"retries": 1},
            "file": "shop/mail.py",
            "line": 8,
        },
        {
            "id": "nightly-report",
            "app_id": "shop",
            "name": "nightly-report",
            "triggers": [{"cron": "TZ=Europe/Paris 0 2 * * *"}],
            "config": {},
            "file": "shop/reports.py",
            "line": 5,
        },
    ],
    "errors": [
        {
            "file": "shop/broken.py",
            "line": 7,
            "message": "SyntaxError: invalid syntax\n    def handler(ctx)\n                   ^",
        },
    ],
}


class StubClient(DurableClient):
    """Canned answers; ``down`` makes every call fail like a stopped server."""

    def __init__(self, *, down: bool = False) -> None:
        super().__init__(URL)
        self.down = down
        self.sent: list[Any] = []
        self.outcome: dict[str, Any] = {}  #: what a sent event did, when the server says it
        self.invoked: list[tuple[str, Any]] = []
        self.cancelled: list[str] = []
        self.reruns: list[tuple[str, str | None]] = []

    def _check(self) -> None:
        if self.down:
            raise Disconnected(self.url, "connection refused")

    async def health(self, *, timeout: float | None = None) -> dict[str, Any]:
        self._check()
        return {"status": "ok", "functions": 3, "reloads": 0, "errors": 1}

    async def runs(
        self,
        *,
        status: str | None = None,
        function: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> RunPage:
        self._check()
        chosen = [
            r
            for r in RUNS
            if (status is None or r["status"] == status)
            and (function is None or r["function_id"] == function)
        ]
        return RunPage([{**copy.deepcopy(r), "steps": None} for r in chosen][:limit], None)

    async def run(self, run_id: str) -> dict[str, Any]:
        self._check()
        for candidate in RUNS:
            if candidate["run_id"] == run_id:
                return copy.deepcopy(candidate)
        raise RequestFailed(404, "run_not_found", f"no run with id {run_id!r}")

    async def logs(self, run_id: str, step: str | None = None) -> list[dict[str, Any]]:
        self._check()
        if run_id != RUNS[-1]["run_id"]:
            return []
        return [line for line in LOGS if step is None or line["step"] == step]

    async def events(self, *, name: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        self._check()
        return copy.deepcopy(EVENTS)

    async def functions(self) -> dict[str, Any]:
        self._check()
        return copy.deepcopy(FUNCTIONS)

    async def send_outcomes(
        self, events: dict[str, Any] | Sequence[dict[str, Any]]
    ) -> tuple[list[str], list[dict[str, Any]]]:
        self._check()
        self.sent.append(events)
        event_id = "01JHQ5Z8EV0000000000000009"
        return [event_id], [{"id": event_id, **self.outcome}] if self.outcome else []

    async def invoke(self, function_id: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        self._check()
        self.invoked.append((function_id, data))
        return {"run_id": RUNS[0]["run_id"]}

    async def cancel(self, run_id: str) -> dict[str, Any]:
        self._check()
        self.cancelled.append(run_id)
        return {"run_id": run_id, "status": "cancelled"}

    async def rerun(
        self, run_id: str, *, from_step: str | None = None, output: Any = None
    ) -> dict[str, Any]:
        self._check()
        self.reruns.append((run_id, from_step))
        return {"run_id": RUNS[-1]["run_id"]}

    async def export_fixture(self, run_id: str, directory: Path | str = "fixtures") -> Path:
        self._check()
        return Path(directory) / f"{run_id}.json"

    async def stream(
        self, *, min_backoff: float = 0.25, max_backoff: float = 5.0
    ) -> AsyncIterator[StreamMessage]:
        if self.down:
            yield "disconnected", {"error": "connection refused", "retry_in": 2.0}
        else:
            yield "connected", {"url": self.url}
        await asyncio.Event().wait()  # nothing more ever happens

    async def aclose(self) -> None:
        return None


def many_runs(count: int) -> list[dict[str, Any]]:
    """``count`` completed runs, newest first, one a second until :data:`NOW`."""

    def iso(seconds_before_now: float) -> str:
        moment = NOW - timedelta(seconds=seconds_before_now)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    runs = []
    for i in range(count):
        made = run(f"01JHQ5Z8R6N{count - i:015d}", f"fn-{i % 7}", "completed", 0, 0)
        made.update(started_at=iso(i + 1), created_at=iso(i + 1), ended_at=iso(i + 0.5))
        runs.append(made)
    return runs


class ManyRunsClient(StubClient):
    """Serves ``count`` runs paged by cursor like the server; ``push`` feeds the stream.

    ``calls`` records every ``runs()`` page asked for (limit, cursor), ``details`` every run
    fetched alone: what a stream update costs in requests.
    """

    def __init__(self, count: int = 10_000) -> None:
        super().__init__()
        self.all_runs = many_runs(count)
        self.index = {r["run_id"]: i for i, r in enumerate(self.all_runs)}
        self.calls: list[tuple[int, str | None]] = []
        self.details: list[str] = []
        self.changes: asyncio.Queue[StreamMessage] = asyncio.Queue()

    async def runs(
        self,
        *,
        status: str | None = None,
        function: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> RunPage:
        self.calls.append((limit, cursor))
        start = 0 if cursor is None else self.index[cursor] + 1
        page = [{**r, "steps": None} for r in self.all_runs[start : start + limit]]
        more = start + limit < len(self.all_runs)
        return RunPage(page, page[-1]["run_id"] if more and page else None)

    async def run(self, run_id: str) -> dict[str, Any]:
        self.details.append(run_id)
        return copy.deepcopy(self.all_runs[self.index[run_id]])

    def push(self, kind: str, data: dict[str, Any]) -> None:
        """A change the server would stream."""
        self.changes.put_nowait((kind, data))

    async def stream(
        self, *, min_backoff: float = 0.25, max_backoff: float = 5.0
    ) -> AsyncIterator[StreamMessage]:
        yield "connected", {"url": self.url}
        while True:
            yield await self.changes.get()
