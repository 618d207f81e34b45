"""The spinner: a loop keeps polling for a moment after a message that expects an answer."""

from __future__ import annotations

import asyncio
import time

import pytest

from durable.devserver import spin
from durable.devserver.spin import Spinner


async def test_the_loop_polls_through_the_window_then_sleeps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(spin, "cpus", lambda: 2)
    monkeypatch.delenv(spin.SPIN_ENV, raising=False)
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


async def test_no_spinning_while_may_spin_says_no(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's spinner stops while a sync step body runs on a thread: the body needs
    the interpreter lock that a polling loop would hold."""
    monkeypatch.setattr(spin, "cpus", lambda: 2)
    monkeypatch.delenv(spin.SPIN_ENV, raising=False)
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
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Steps slower than the window (answers that never come within it): after MISSES empty
    windows only one expect in PROBE_EVERY polls; a probe that catches an answer resumes."""
    monkeypatch.setattr(spin, "cpus", lambda: 2)
    monkeypatch.delenv(spin.SPIN_ENV, raising=False)
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
