"""The documented hard limits of a run (SPEC section 1), in one place."""

from __future__ import annotations

MAX_STEPS_PER_RUN = 1_000
MAX_STEP_OUTPUT_BYTES = 4 * 1024 * 1024
MAX_RUN_STATE_BYTES = 32 * 1024 * 1024
MAX_EVENT_BYTES = 512 * 1024
#: Levels of objects and arrays in an event's ``data`` (or ``user``), ``data`` itself being 1.
#: Fixed, so that what is accepted never depends on a process's recursion limit.
MAX_EVENT_DEPTH = 64
MAX_TRIGGERS = 10
MAX_CONCURRENCY_RULES = 2
IDEMPOTENCY_WINDOW_SECONDS = 24 * 60 * 60
EVENT_DEDUP_WINDOW_SECONDS = 24 * 60 * 60
