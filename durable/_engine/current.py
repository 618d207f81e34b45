"""Which step body the current task is running: read by ``ctx.logger`` and the step tools."""

from __future__ import annotations

import contextvars

#: ``(step key, attempt)`` of the step body running in the current task, if any.
current_step: contextvars.ContextVar[tuple[str, int] | None] = contextvars.ContextVar(
    "durable_current_step", default=None
)
