"""Shared by the bench scripts: figures beside their SPEC targets, one table, one JSON line.

Every bench script builds a :class:`Report` (a list of :class:`Figure`) and prints it with
:func:`print_report`: a table (figure, measured, target, ✔/✖) and one JSON line. ``bench/all.py``
collects the reports of every script and prints one combined table and JSON line.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import _repo  # noqa: F401  (puts the repository root on sys.path for tests.support)
from rich.console import Console
from rich.table import Table

from tests.support.harness import TERMINAL, DevProcess, wait_for

#: The throughput benches' load: a run of 3 no-op steps (function ``three``) per
#: ``bench/three`` event, after an app named by :func:`three_steps_app`.
THREE_NOOP_STEPS = """
async def noop():
    return None

@app.function(id="three", triggers=[{"event": "bench/three"}])
async def three(ctx):
    for _ in range(3):
        await ctx.step.run("s", noop)
"""


def three_steps_app(app_id: str, more: str = "") -> str:
    """An app module ``app_id`` with :data:`THREE_NOOP_STEPS` (then ``more``, which may use
    ``noop``)."""
    return f"from durable import Durable\n\napp = Durable(id={app_id!r})\n{THREE_NOOP_STEPS}{more}"


@dataclass(slots=True)
class Figure:
    """One measured figure, and the SPEC target it is held to (None: informative only)."""

    key: str
    label: str
    value: float | None
    unit: str = "ms"
    target: float | None = None
    higher_is_better: bool = False
    digits: int = 3
    note: str = ""  # shown after the value, e.g. "(3.9 / 3.8 ms)"
    target_note: str = ""  # shown after the target, e.g. "(DBOS: 1.39 ms)"

    @property
    def ok(self) -> bool | None:
        """Whether the target is met; None when there is no target."""
        if self.target is None:
            return None
        if self.value is None:
            return False
        if self.higher_is_better:
            return self.value >= self.target
        return self.value <= self.target

    def _number(self, value: float) -> str:
        text = f"{value:,.{self.digits}f}"
        return f"{text}{self.unit}" if self.unit in ("x", "") else f"{text} {self.unit}"

    @property
    def measured(self) -> str:
        if self.value is None:
            return "n/a"
        return f"{self._number(self.value)} {self.note}".rstrip()

    @property
    def wanted(self) -> str:
        if self.target is None:
            return ""
        sign = ">=" if self.higher_is_better else "<="
        digits = 0 if float(self.target).is_integer() else len(f"{self.target}".split(".")[1])
        text = f"{self.target:,.{digits}f}"
        unit = self.unit if self.unit in ("x", "") else f" {self.unit}"
        return f"{sign} {text}{unit} {self.target_note}".rstrip()

    @property
    def mark(self) -> str:
        return {True: "✔", False: "✖", None: ""}[self.ok]


@dataclass(slots=True)
class Report:
    """The figures of one bench script, plus raw numbers for its JSON line."""

    bench: str
    title: str
    figures: list[Figure]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(f.ok is not False for f in self.figures)

    def json(self) -> dict[str, Any]:
        values = {f.key: _round(f.value) for f in self.figures}
        return {"bench": self.bench, **values, **{k: _round(v) for k, v in self.extra.items()}}


def _round(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def table(title: str, rows: Sequence[Figure]) -> Table:
    """A rich table of figures beside their targets."""
    out = Table(title=title)
    out.add_column("figure")
    out.add_column("measured", justify="right")
    out.add_column("target")
    out.add_column("", justify="center")
    for figure in rows:
        out.add_row(figure.label, figure.measured, figure.wanted, figure.mark)
    return out


def console() -> Console:
    """A console that does not squeeze the table when stdout is a pipe (make, CI)."""
    return Console(width=max(140, Console().width))


def print_report(report: Report) -> None:
    """The table, then one JSON line."""
    console().print(table(report.title, report.figures))
    print(json.dumps({**report.json(), "targets_met": report.ok}), flush=True)


def prepare() -> None:
    """Compile the project's modules to ``__pycache__`` once, as a first import normally does.

    With ``PYTHONDONTWRITEBYTECODE`` set (as on some CI and sandbox machines) every new
    ``durable dev`` and worker process would otherwise compile the sources again, and
    startup figures (restart, hot reload) would measure the compiler.
    """
    import compileall

    root = Path(__file__).resolve().parent.parent
    for folder in ("durable", "devserver", "cli"):
        if (root / folder).is_dir():
            compileall.compile_dir(root / folder, quiet=2, force=False)


# -- measuring helpers ------------------------------------------------------------------------


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The ``fraction`` percentile of ``samples`` (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def rss_mb(pid: int, field_name: str = "VmRSS") -> float | None:
    """A process's resident set (``VmRSS``) or its peak (``VmHWM``) in MB, from /proc."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return None


def children(pid: int) -> list[int]:
    """The direct child processes of ``pid`` (Linux /proc)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def started_ticks(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (/proc/<pid>/stat field 22)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(text.rsplit(")", 1)[1].split()[19])


def started_after(parent: int, child: int) -> float | None:
    """Seconds between two processes' starts (resolution: one clock tick, usually 10 ms)."""
    a, b = started_ticks(parent), started_ticks(child)
    if a is None or b is None:
        return None
    return (b - a) / os.sysconf("SC_CLK_TCK")


def iso_to_epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def load_average() -> str:
    """The 1-minute load average when the bench started (others share the CPUs)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:  # pragma: no cover
        return "?"


# -- through durable dev --------------------------------------------------------------------

#: A function for :func:`event_latencies`: its first step returns ``time.time()`` in the worker.
FIRST_STEP_APP = """
def _now():
    import time
    return time.time()

@app.function(id="first", triggers=[{"event": "bench/first"}])
async def first(ctx):
    return await ctx.step.run("first", _now)
"""


class RawPoster:
    """``POST /api/events`` over one kept-alive socket, the request's bytes built ahead.

    The latency figures start when the request goes on the wire, not while an HTTP client
    library builds it: httpx spends ~0.3-0.5 ms of this machine's CPU on a request before its
    first byte is sent, time that is the client's, not the server's.
    """

    def __init__(self, dev: DevProcess) -> None:
        self.dev = dev
        self.sock = socket.create_connection(("127.0.0.1", dev.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""

    def prepare(self, events: list[dict[str, Any]]) -> bytes:
        """The bytes of one ``POST /api/events`` of ``events``."""
        body = json.dumps(events).encode()
        headers = {
            "Host": f"127.0.0.1:{self.dev.port}",
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            **self.dev.headers,
        }
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        return f"POST /api/events HTTP/1.1\r\n{head}\r\n".encode() + body

    def send(self, request: bytes) -> list[str]:
        """Send prepared bytes; the ids of the events, once the response is read."""
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self._buffer:
            self._buffer += self._recv()
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
        length = int(fields["content-length"])
        while len(self._buffer) < length:
            self._buffer += self._recv()
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        if not lines[0].split()[1].startswith("2"):
            raise RuntimeError(f"POST /api/events: {lines[0]} {body!r}")
        return list(json.loads(body)["ids"])

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        return data

    def close(self) -> None:
        self.sock.close()


def event_latencies(dev: DevProcess, count: int) -> tuple[list[float], list[float]]:
    """Event -> first step body starts (seconds), ``count`` events one at a time.

    Two measures per event. Client side: from the moment the ``POST /api/events`` request
    (built ahead, :class:`RawPoster`) is written to the socket to the ``time.time()`` the step
    body read in the worker (same machine, same clock); it includes the HTTP request, so it
    is an upper bound of "event accepted -> first step starts". Server side: the event's
    ``received_at`` to the step attempt's ``started_at`` as the API shows them (millisecond
    resolution). The app needs :data:`FIRST_STEP_APP`.
    """
    client, server = [], []
    poster = RawPoster(dev)
    try:
        for _ in range(count):
            request = poster.prepare([{"name": "bench/first"}])
            began = time.time()
            [event_id] = poster.send(request)
            time.sleep(0.01)  # let the run go before polling for it (polls cost the server CPU)
            event, run = wait_for(lambda: _finished_run_of(dev, event_id), 30, "the run", 0.005)  # noqa: B023
            client.append(float(run["output"]) - began)
            started = run["steps"][0]["attempts"][0]["started_at"]
            server.append(iso_to_epoch(started) - iso_to_epoch(event["received_at"]))
    finally:
        poster.close()
    return client, server


def _finished_run_of(dev: DevProcess, event_id: str) -> tuple[Any, Any] | None:
    events = dev.get("/api/events", name="bench/first", limit=5)["events"]
    event = next((e for e in events if e["id"] == event_id), None)
    if event is None or not event["run_ids"]:
        return None
    run = dev.get(f"/api/runs/{event['run_ids'][0]}")
    return (event, run) if run["status"] == "completed" else None


UNFINISHED = ("queued", "running", "sleeping", "waiting")


def any_unfinished(dev: DevProcess, function: str, statuses: Sequence[str] = UNFINISHED) -> bool:
    """Whether any run of ``function`` has one of ``statuses`` (one cheap page per status)."""
    return any(dev.get("/api/runs", status=s, function=function, limit=1)["runs"] for s in statuses)


def all_finished(dev: DevProcess, function: str, count: int) -> bool:
    """Whether ``count`` runs of ``function`` have ended (confirms :func:`any_unfinished`,
    whose one-status-at-a-time pages can miss a run that changes status between them)."""
    ended = [r for r in dev.runs(function=function) if r["status"] in TERMINAL]
    return len(ended) >= count


#: How often the throughput benches ask whether the runs have ended: each poll is a few API
#: requests the server serves beside the runs, so not too often (the time they report is the
#: last run's ``ended_at``, recorded by the server, not the moment a poll noticed it).
POLL_SECONDS = 0.1


def last_ended_at(dev: DevProcess, function: str, count: int, timeout: float = 300) -> float:
    """Wait until ``count`` runs of ``function`` have ended; the latest ``ended_at`` among
    them (epoch seconds, millisecond resolution, the server's clock: this machine's)."""
    wait_for(
        lambda: not any_unfinished(dev, function) and all_finished(dev, function, count),
        timeout,
        f"{count} runs of {function}",
        POLL_SECONDS,
    )
    ended = [run["ended_at"] for run in dev.runs(function=function) if run["ended_at"]]
    return max(iso_to_epoch(moment) for moment in ended)


class Stopwatch:
    """``with Stopwatch() as w: ...; w.seconds``."""

    def __enter__(self) -> Stopwatch:
        self.began = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self.began
