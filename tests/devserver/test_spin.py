"""The spinner: a loop keeps polling for a moment after a message that expects an answer."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from durable.devserver import spin
from durable.devserver.framing import encode
from durable.devserver.spin import Spinner
from durable.devserver.worker import Worker
from durable.devserver.workers import WorkerProcess


@pytest.fixture
def two_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine with a CPU to spare, polling not turned off."""
    monkeypatch.setattr(spin, "cpus", lambda: 2)
    monkeypatch.delenv(spin.SPIN_ENV, raising=False)


async def test_the_loop_polls_through_the_window_then_sleeps(two_cpus: None) -> None:
    spinner = Spinner(window=0.05)
    rounds = 0
    real_spin = spinner._spin

    def counting() -> None:
        nonlocal rounds
        rounds += 1
        real_spin()

    spinner._spin = counting  # type: ignore[method-assign]
    began = time.monotonic()
    spinner.expect()
    spinner.expect()  # one chain of polls, not two
    await asyncio.sleep(0.1)
    assert not spinner._spinning  # the window passed: the loop sleeps again
    assert rounds > 20  # polled many times instead of sleeping in one wait
    assert time.monotonic() - began >= 0.1


@pytest.mark.parametrize(("cpus", "setting"), [(1, "1"), (4, "0")])
def test_no_spinning_on_one_cpu_or_when_turned_off(
    monkeypatch: pytest.MonkeyPatch, cpus: int, setting: str
) -> None:
    monkeypatch.setattr(spin, "cpus", lambda: cpus)
    monkeypatch.setenv(spin.SPIN_ENV, setting)
    spinner = Spinner()
    assert spinner.window == 0.0
    spinner.expect()  # (no running loop needed: nothing is scheduled)
    assert not spinner._spinning


def test_cpus_counts_the_cpus_this_process_may_use() -> None:
    assert 1 <= spin.cpus() <= (__import__("os").cpu_count() or 1)


async def test_no_spinning_while_may_spin_says_no(two_cpus: None) -> None:
    """The worker's spinner stops while a sync step body runs on a thread: the body needs
    the interpreter lock that a polling loop would hold."""
    body_running = True
    spinner = Spinner(window=0.05, may_spin=lambda: not body_running)
    spinner.expect()
    assert not spinner._spinning
    body_running = False
    spinner.expect()
    assert spinner._spinning
    body_running = True  # a body started meanwhile: the next poll ends the spin
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not spinner._spinning


async def _window_ends(spinner: Spinner) -> None:
    while spinner._spinning:
        await asyncio.sleep(0)


async def test_an_answer_ends_the_window_and_windows_that_catch_nothing_pause_polling(
    two_cpus: None,
) -> None:
    """Steps slower than the window (answers that never come within it): after MISSES empty
    windows only one expect in PROBE_EVERY polls; a probe that catches an answer resumes."""
    spinner = Spinner(window=0.002)
    spinner.expect()
    spinner.arrived()  # the answer: polling stops at the next round, the window counts
    await _window_ends(spinner)
    assert spinner.misses == 0
    for _ in range(spin.MISSES):  # slow answers: each window ends with nothing read
        spinner.expect()
        assert spinner._spinning
        await _window_ends(spinner)
    assert spinner.misses == spin.MISSES
    polled = 0
    for _ in range(spin.PROBE_EVERY * 2):
        spinner.expect()
        polled += spinner._spinning
        await _window_ends(spinner)
    assert polled == 2  # paused: one probe in PROBE_EVERY
    for _ in range(spin.PROBE_EVERY - 1):
        spinner.expect()
        assert not spinner._spinning
    spinner.expect()  # the probe ...
    assert spinner._spinning
    spinner.arrived()  # ... catches an answer: full polling again
    await _window_ends(spinner)
    assert spinner.misses == 0
    spinner.expect()
    assert spinner._spinning


async def test_a_request_after_an_answer_in_the_same_turn_opens_a_new_window(
    two_cpus: None,
) -> None:
    """Many passes: an answer is read and another request goes out before the next poll;
    that request still gets its window."""
    spinner = Spinner(window=10.0)
    spinner.expect()
    spinner.arrived()
    spinner.expect()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert spinner._spinning  # the second request's window is running
    spinner.arrived()
    await _window_ends(spinner)
    assert spinner.misses == 0


async def test_a_window_cut_short_or_not_polled_is_not_a_miss(two_cpus: None) -> None:
    body_running = False
    spinner = Spinner(window=0.005, may_spin=lambda: not body_running)
    spinner.expect()
    body_running = True  # a sync body started: the window ends early, nothing missed
    await _window_ends(spinner)
    assert spinner.misses == 0
    body_running = False
    spinner.expect()
    time.sleep(0.02)  # the loop is blocked past the whole window: it was never polled
    await _window_ends(spinner)
    assert spinner.misses == 0
    spinner.expect()
    await _window_ends(spinner)  # polled to its end, nothing read: that one is a miss
    assert spinner.misses == 1


async def test_a_spinner_left_spinning_on_a_closed_loop_spins_on_the_next_one(
    two_cpus: None,
) -> None:
    spinner = Spinner(window=10.0)
    other = asyncio.new_event_loop()
    spinner._spinning, spinner._loop = True, other  # as if that loop closed mid-window
    other.close()
    spinner.expect()
    assert spinner._spinning and spinner._loop is asyncio.get_running_loop()
    spinner.arrived()
    await _window_ends(spinner)


def test_only_answers_end_a_window(two_cpus: None, tmp_path: Path) -> None:
    """The server's window after a reply ends at the pass's next checkpoint (or its end), not
    at the step-started notice that comes first; the worker's at the reply."""

    async def scenario() -> None:
        server_side = WorkerProcess([tmp_path / "app.py"], tmp_path)
        server_side.spinner = Spinner(window=10.0)
        server_side.spinner.expect()
        notice = {"key": "s", "id": "s", "attempt": 0, "started_at": 0.0, "seq": 0}
        for message in ({"t": "start", "x": 7, "m": notice}, {"t": "log", "x": 7, "l": {}}):
            server_side._dispatch(message)  # (no pass 7: only the spinner hears of it)
            assert not server_side.spinner._caught
        server_side._dispatch({"t": "cp", "x": 7, "c": 1, "m": {}})
        assert server_side.spinner._caught
        await _window_ends(server_side.spinner)

        ours, theirs = socket.socketpair()  # (ours: the server's end, a plain socket)
        reader, writer = await asyncio.open_connection(sock=theirs)
        worker_side = Worker({}, writer)
        worker_side.spinner = Spinner(window=10.0)
        serving = asyncio.ensure_future(worker_side.serve(reader))
        worker_side.spinner.expect()
        ours.sendall(encode({"t": "ping", "n": 1}))
        await asyncio.sleep(0.05)
        assert worker_side.spinner._spinning and not worker_side.spinner._caught
        ours.sendall(encode({"t": "reply", "x": 1, "c": 1, "r": {}}))
        await asyncio.wait_for(_window_ends(worker_side.spinner), 5)
        ours.sendall(encode({"t": "stop"}))
        await asyncio.wait_for(serving, 5)
        writer.close()
        await writer.wait_closed()
        ours.close()

    asyncio.run(scenario())
