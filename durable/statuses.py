"""The names a run and its steps go by on the wire: statuses and step kinds.

These are the strings the HTTP API, the SSE stream, fixtures and the store use. The CLI and
the inspector read them from here (never from the engine's private modules)::

    from durable.statuses import TERMINAL_STATUSES, RunStatus

    if run["status"] in TERMINAL_STATUSES: ...

Every member is a ``str`` too: ``RunStatus.FAILED == "failed"``. The definitions live with the
engine (the store and the worker protocol); this module only names them publicly.
"""

from __future__ import annotations

from typing import Final

from ._engine.protocol import StepKind
from ._stores.base import PARKED_STEP_STATUSES, TERMINAL_STATUSES, RunStatus, StepStatus

__all__ = [
    "PARKED_STEP_STATUSES",
    "RUN_STATUSES",
    "STEP_KINDS",
    "STEP_STATUSES",
    "TERMINAL_STATUSES",
    "RunStatus",
    "StepKind",
    "StepStatus",
]

#: A run's statuses as strings, in the order a run goes through them.
RUN_STATUSES: Final[tuple[str, ...]] = tuple(status.value for status in RunStatus)
#: A step's statuses as strings.
STEP_STATUSES: Final[tuple[str, ...]] = tuple(status.value for status in StepStatus)
#: The step kinds as strings (``run``, ``sleep``, ``wait_for_event``, ``invoke``, ``send_event``).
STEP_KINDS: Final[tuple[str, ...]] = tuple(kind.value for kind in StepKind)
