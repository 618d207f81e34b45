"""The event loop the server and its workers run on: uvloop's where it is installed.

uvloop (libuv, in C) runs the loop, its callbacks and the socket transports at a fraction of
asyncio's own cost; the server and the worker spend most of their time there between small
messages. ``DURABLE_UVLOOP=0`` keeps asyncio's loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

#: ``DURABLE_UVLOOP=0``: asyncio's own loop even where uvloop is installed
UVLOOP_ENV = "DURABLE_UVLOOP"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's ``new_event_loop``, or None (asyncio's): not installed, or turned off."""
    if os.environ.get(UVLOOP_ENV, "1") == "0":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the loop of :func:`loop_factory`."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
