"""The outbox: one write per loop pass, except after a quiet spell and for a block that
has waited too long."""

from __future__ import annotations

import asyncio
import time

from durable.devserver.outbox import Outbox


class FakeWriter:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return False


def _outbox(linger: float) -> tuple[Outbox, FakeWriter]:
    writer = FakeWriter()
    return Outbox(writer, linger=linger), writer  # type: ignore[arg-type]


async def test_the_first_message_after_a_quiet_spell_goes_at_once_the_rest_together() -> None:
    outbox, writer = _outbox(linger=0.5)
    outbox.put(b"a\n")
    assert writer.writes == [b"a\n"]  # nothing was written for a while: no reason to wait
    outbox.put(b"b\n")
    outbox.put(b"c\n")
    assert writer.writes == [b"a\n"]  # queued until the end of this loop pass
    await asyncio.sleep(0)
    assert writer.writes == [b"a\n", b"b\nc\n"]


async def test_a_block_older_than_the_linger_is_written_at_the_next_message() -> None:
    outbox, writer = _outbox(linger=0.01)
    outbox.put(b"first\n")  # at once; the next ones come right after it
    outbox.put(b"a\n")
    time.sleep(0.02)  # a long loop pass (a round preparing many passes)
    outbox.put(b"b\n")
    assert writer.writes == [b"first\n", b"a\nb\n"]  # not held for the rest of the pass
    outbox.put(b"c\n")
    await asyncio.sleep(0)
    assert writer.writes == [b"first\n", b"a\nb\n", b"c\n"]


async def test_now_writes_what_is_queued_and_put_and_wait_is_done_once_written() -> None:
    outbox, writer = _outbox(linger=0.5)
    outbox.put(b"first\n")
    outbox.put(b"a\n")
    waiting = outbox.put_and_wait(b"b\n")
    assert not waiting.done()
    outbox.put(b"c\n", now=True)
    assert writer.writes == [b"first\n", b"a\nb\nc\n"] and waiting.done()
    await asyncio.sleep(0)  # the end-of-pass flush finds nothing more to write
    assert len(writer.writes) == 2


async def test_a_cancelled_waiter_does_not_cancel_the_others() -> None:
    """Passes resuming together wait for one write: a pass cancelled while it waits (a
    cancel from the server, a TaskGroup sibling failing) must not take the others with it."""
    outbox, writer = _outbox(linger=0.5)
    outbox.put(b"first\n")  # at once: the rest wait for the end of the loop pass
    waiters = [asyncio.ensure_future(_send(outbox, f"{n}\n".encode())) for n in range(3)]
    await asyncio.sleep(0)  # each waiter has queued its message and waits for the write
    assert writer.writes == [b"first\n"]
    waiters[1].cancel()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert results[0] == "written" and results[2] == "written"
    assert isinstance(results[1], asyncio.CancelledError)
    assert writer.writes == [b"first\n", b"0\n1\n2\n"]


async def _send(outbox: Outbox, data: bytes) -> str:
    await outbox.put_and_wait(data)
    return "written"
