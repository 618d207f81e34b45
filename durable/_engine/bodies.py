"""How a step body is called: async ones in the pass's task, sync ones on a thread of their
own (never a small shared pool), each attempt bounded by ``step.run``'s ``timeout``."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from .threads import step_threads


class TimedOut:
    """Marker: the step body outran its timeout."""


async def call_body(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    timeout: timedelta | None,
) -> Any:
    """The body's result, or :class:`TimedOut` once ``timeout`` has passed.

    A body that outruns it is cancelled: an async one at its current ``await``, a sync one
    is left to run on in its thread until it returns (its result ignored). The body runs in
    this task, so the worker's watchdog finds the step on the stack if it blocks the loop.
    """
    if timeout is None:
        return await _body(fn, args, kwargs)
    try:
        async with asyncio.timeout(timeout.total_seconds()) as scope:
            return await _body(fn, args, kwargs)
    except TimeoutError:
        if scope.expired():
            return TimedOut()
        raise


async def _body(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    if inspect.iscoroutinefunction(fn):
        return await fn(*args, **kwargs)
    # Not asyncio.to_thread: its small shared pool lets a few hung bodies block all others.
    result = await step_threads.run(fn, *args, **kwargs)
    if inspect.isawaitable(result):
        return await result
    return result
