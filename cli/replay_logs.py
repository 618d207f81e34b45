"""Log lines the app writes while ``durable replay`` replays a fixture, kept with it.

Without this, a warning logged by the code under replay lands on stderr with nothing saying
which fixture it came from (the results are printed after all replays). While a fixture
replays, the root logger's handlers are swapped for one that keeps the lines for that fixture;
they are printed under its result (``log warning shop: ...``) and listed in its ``--json``
line as ``logs``. Only what the loggers' levels let through is kept (warnings and up unless
the app configured more).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception as exc:  # a bad %-format in the app's call: say so, keep going
            message = f"{record.msg!r} (unformattable: {type(exc).__name__}: {exc})"
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            message += f" [{type(error).__name__}: {error}]"
        self.lines.append(f"{record.levelname.lower()} {record.name}: {message}")


@contextmanager
def kept_logs() -> Iterator[list[str]]:
    """Within the block, log records reaching the root logger go to the list it yields."""
    root = logging.getLogger()
    keep = _Keep()
    saved = root.handlers[:]
    root.handlers[:] = [keep]
    try:
        yield keep.lines
    finally:
        root.handlers[:] = saved
