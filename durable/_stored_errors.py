"""The stored form of an error raised in user code: what the API, the CLI and the TUI show."""

from __future__ import annotations

from typing import Any

from ._errors import DurableError, StepError
from ._text import clean_error, error_text
from ._tracebacks import user_traceback


def error_dict(exc: BaseException) -> dict[str, Any]:
    """The stored form of an error: ``name``, ``message``, ``traceback`` and structured fields.

    Its text is only shown, so it is made storable (see :func:`durable._text.clean_error`):
    lone surrogates escaped, each text trimmed to a bound, whatever size the error had.
    """
    if isinstance(exc, StepError):
        return clean_error(
            {
                "name": "StepError",
                "message": error_text(exc),
                "step_id": exc.step_id,
                "cause": {"name": exc.name, "message": exc.message},
                "traceback": exc.traceback,
            }
        )
    base = exc.to_dict() if isinstance(exc, DurableError) else {}
    return clean_error(
        {
            **base,
            "name": type(exc).__name__,
            "message": error_text(exc),
            "traceback": user_traceback(exc),
        }
    )
