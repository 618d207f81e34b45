"""The one error tree of durable.

Every error the SDK raises on its own account derives from :class:`DurableError`, carries a
stable ``code`` and structured fields, and formats its own message::

    Exception
    ├── DurableError                  code, message
    │   ├── ConfigError               a function definition is invalid (function_id, field)
    │   │   ├── ExpressionError       a CEL expression does not compile (expression, position)
    │   │   ├── CronError             a cron trigger does not parse (expression)
    │   │   └── DuplicateFunctionError  two functions share an id in one app
    │   ├── InvalidDurationError      "5 minutes" is not a duration (also a ValueError)
    │   ├── InvalidInstantError       "next tuesday" is not an ISO-8601 time (also a ValueError)
    │   ├── InvalidEventError         an event is malformed (field, index)
    │   │   └── EventTooLargeError    an event is over the 512 KB limit (size, limit)
    │   ├── LimitExceededError        a run breached a limit (limit, run_id, step_id)
    │   ├── SerializationError        a value is not JSON-serializable (run_id, step_id)
    │   │   └── ResultTypeError       a result does not fit its declared type (type, field)
    │   ├── NonDeterminismError       replayed code diverged from its history (run_id, step_id)
    │   ├── UnknownFunctionError      no function registered under that id
    │   ├── SendError                 app.send: the server refused the events or is unreachable
    │   ├── StoreError                the database refused a read or write (reason, path)
    │   ├── StepTimeout               a step attempt outran step.run's timeout (a failed attempt)
    │   └── StepError                 a step exhausted its attempts; raised into the handler
    ├── NonRetriableError             raised by user code: fail the step (or run) at once
    └── RetryAfterError               raised by user code: retry after a given delay or time

``NonRetriableError`` and ``RetryAfterError`` are raised *by users*, so they are plain
exceptions rather than ``DurableError`` subclasses: catching ``DurableError`` catches what
durable itself complains about.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


class DurableError(Exception):
    """Base class of every error durable raises on its own account."""

    code: str = "durable_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description of the error: ``{"name", "code", "message", ...fields}``."""
        fields = {
            key: value
            for key, value in vars(self).items()
            if key != "message" and not key.startswith("_") and _is_plain(value)
        }
        return {"name": type(self).__name__, "code": self.code, "message": self.message, **fields}


def _is_plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, list, dict))


class ConfigError(DurableError, ValueError):
    """A function definition is invalid; raised when the decorator runs."""

    code = "invalid_config"

    def __init__(self, message: str, *, function_id: str | None = None, field: str | None = None):
        self.function_id = function_id
        self.field = field
        where = []
        if function_id is not None:
            where.append(f"function {function_id!r}")
        if field is not None:
            where.append(f"option {field!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.reason = message


class ExpressionError(ConfigError):
    """A CEL expression failed to compile. ``line`` and ``column`` are 1-based."""

    code = "invalid_expression"

    def __init__(
        self,
        detail: str,
        *,
        expression: str,
        position: tuple[int, int] | None = None,
        function_id: str | None = None,
        field: str | None = None,
    ) -> None:
        self.expression = expression
        self.detail = detail
        self.line = position[0] if position else None
        self.column = position[1] if position else None
        at = f" at line {position[0]}, column {position[1]}" if position else ""
        super().__init__(
            f"invalid expression {expression!r}{at}: {detail}", function_id=function_id, field=field
        )

    @property
    def position(self) -> tuple[int, int] | None:
        """``(line, column)``, 1-based, where the expression went wrong, when known."""
        if self.line is None or self.column is None:
            return None
        return (self.line, self.column)

    def with_context(self, *, function_id: str | None, field: str | None) -> ExpressionError:
        """The same error, naming the function and option it was found in."""
        return ExpressionError(
            self.detail,
            expression=self.expression,
            position=self.position,
            function_id=function_id,
            field=field,
        )


class CronError(ConfigError):
    """A cron trigger does not parse, or names an unknown time zone."""

    code = "invalid_cron"

    def __init__(
        self,
        message: str,
        *,
        expression: str,
        function_id: str | None = None,
        field: str | None = None,
    ) -> None:
        self.expression = expression
        super().__init__(
            f"invalid cron {expression!r}: {message}", function_id=function_id, field=field
        )


class DuplicateFunctionError(ConfigError):
    """Two functions of one app were registered under the same id."""

    code = "duplicate_function"


class InvalidDurationError(DurableError, ValueError):
    """A value could not be read as a duration (``"250ms"``, ``"1h30m"``, a timedelta...)."""

    code = "invalid_duration"

    def __init__(self, message: str, *, value: Any = None) -> None:
        self.value = repr(value)
        super().__init__(message)


class InvalidInstantError(DurableError, ValueError):
    """A value could not be read as a point in time (a ``datetime`` or an ISO-8601 string)."""

    code = "invalid_instant"

    def __init__(self, message: str, *, value: Any = None) -> None:
        self.value = repr(value)
        super().__init__(message)


class InvalidEventError(DurableError, ValueError):
    """An event is malformed: ``field`` names the offending part."""

    code = "invalid_event"

    def __init__(self, message: str, *, field: str | None = None, index: int | None = None):
        self.field = field
        self.index = index
        where = ""
        if index is not None:
            where += f"event #{index}"
        if field is not None:
            where += (" " if where else "") + f"field {field!r}"
        super().__init__(f"{where}: {message}" if where else message)


class EventTooLargeError(InvalidEventError):
    """An event encodes to more than the 512 KB limit (``size`` and ``limit`` in bytes)."""

    code = "event_too_large"

    def __init__(self, *, size: int, limit: int, index: int | None = None) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"event is {size} bytes, over the limit of {limit} bytes ({limit // 1024} KB)",
            field="data",
            index=index,
        )


class LimitExceededError(DurableError):
    """A run breached one of the documented limits; the run fails cleanly."""

    code = "limit_exceeded"

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        run_id: str | None = None,
        step_id: str | None = None,
    ) -> None:
        self.limit = limit
        self.run_id = run_id
        self.step_id = step_id
        super().__init__(message)


class SerializationError(DurableError, TypeError):
    """A step result, output or event is not JSON-serializable."""

    code = "not_serializable"

    def __init__(self, message: str, *, run_id: str | None = None, step_id: str | None = None):
        self.run_id = run_id
        self.step_id = step_id
        super().__init__(message)


class ResultTypeError(SerializationError):
    """A typed result (SPEC section 8) does not fit its type.

    Raised when a step's value cannot be encoded as its declared type, when stored JSON no
    longer fits the type (the type changed between deploys), or when a return type cannot be
    stored as JSON at all. ``type`` names the type, ``field`` the path inside the value
    (``"items[2].placed_at"``; ``None`` for the value as a whole), ``step_id`` the step key.
    """

    code = "result_type_mismatch"

    def __init__(
        self,
        message: str,
        *,
        type: str,
        field: str | None = None,
        run_id: str | None = None,
        step_id: str | None = None,
    ) -> None:
        self.type = type
        self.field = field
        super().__init__(message, run_id=run_id, step_id=step_id)


class NonDeterminismError(DurableError):
    """Re-executed code asked for a different step than its history recorded."""

    code = "non_determinism"

    def __init__(self, message: str, *, run_id: str | None = None, step_id: str | None = None):
        self.run_id = run_id
        self.step_id = step_id
        super().__init__(message)


class UnknownFunctionError(DurableError, LookupError):
    """No function is registered under the given id."""

    code = "unknown_function"

    def __init__(self, function_id: str) -> None:
        self.function_id = function_id
        super().__init__(f"no function registered with id {function_id!r}")


class StepError(DurableError):
    """A step failed for good (attempts exhausted or non-retriable).

    Raised inside the handler at the ``await`` of the step; catch it to fall back, or let it
    propagate to fail the run.
    """

    code = "step_failed"

    def __init__(
        self,
        message: str,
        *,
        step_id: str,
        name: str = "Error",
        traceback: str | None = None,
    ) -> None:
        self.step_id = step_id
        self.name = name
        self.traceback = traceback
        super().__init__(message)

    def __str__(self) -> str:
        return f"step {self.step_id!r} failed: {self.name}: {self.message}"


class StepTimeout(DurableError):
    """A ``step.run`` attempt ran longer than its ``timeout``: the attempt failed.

    Recorded as the attempt's error (``name == "StepTimeout"``) and retried per ``retries``;
    after the last attempt the handler sees a :class:`StepError` with that name.
    """

    code = "step_timeout"

    def __init__(
        self, *, step_id: str, function_id: str, timeout: str, run_id: str | None = None
    ) -> None:
        self.step_id = step_id
        self.function_id = function_id
        self.timeout = timeout
        self.run_id = run_id
        super().__init__(f"step {step_id!r} of function {function_id!r} exceeded {timeout}")


class NonRetriableError(Exception):
    """Raise from a step (or handler) to fail it at once, without further attempts."""

    def __init__(self, message: str = "", *, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.message = message
        if cause is not None:
            self.__cause__ = cause


class RetryAfterError(Exception):
    """Raise from a step to schedule its next attempt after ``after``.

    ``after`` is a duration (``"30s"``, seconds, ``timedelta``) or an absolute ``datetime``.
    """

    def __init__(self, message: str, after: str | float | int | timedelta | datetime) -> None:
        super().__init__(message)
        self.message = message
        self.after = after


class SendError(DurableError):
    """``app.send``: the server refused the events or could not be reached (url, status)."""

    code = "send_failed"

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        self.url = url
        self.status = status
        super().__init__(message)


class StoreError(DurableError):
    """The database refused a read or a write: locked, full, damaged, in use, unreachable.

    ``reason`` (also the ``code``) is one of ``database_locked``, ``database_full``,
    ``database_damaged``, ``database_in_use``, ``database_unreachable`` (PostgreSQL: the
    server cannot be reached or dropped the connection) or ``database_error``; ``path`` names
    the database (a PostgreSQL URL without its password). A write that raised this changed
    nothing: the backend rolled it back.
    """

    def __init__(self, message: str, *, reason: str = "database_error", path: str | None = None):
        self.reason = reason
        self.code = reason
        self.path = path
        super().__init__(message)

    @property
    def transient(self) -> bool:
        """True when the same write may work later (a lock released, space freed)."""
        return self.reason in (
            "database_locked",
            "database_full",
            "database_error",
            "database_unreachable",
        )
