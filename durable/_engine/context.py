"""What a handler receives: ``ctx`` with the trigger event, the step tools and a logger."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from .._define.durations import parse_duration, parse_instant
from .._define.events import Event, validate_events
from .._define.expressions import compile_expression
from .._errors import ConfigError, ExpressionError
from .._ids import derived_id
from .._serialization import dumps
from .._text import is_text
from .current import current_step
from .protocol import (
    InvokeRequest,
    SendEventRequest,
    SleepRequest,
    StepKind,
    WaitRequest,
)

if TYPE_CHECKING:
    from .._define.app import DurableFunction
    from .execution import Execution

T = TypeVar("T")
Duration = str | int | float | timedelta


class Step:
    """The step tools. Each takes a step id first; each is memoized per run."""

    def __init__(self, execution: Execution) -> None:
        self._x = execution

    async def run(
        self,
        step_id: str,
        fn: Callable[..., Any],
        *args: Any,
        timeout: Duration | None = None,
        output_type: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Run ``fn(*args, **kwargs)`` once for this run and checkpoint its JSON result.

        Sync callables run in a thread of their own. Retried per the function's policy; after
        the last attempt a :class:`durable.StepError` is raised here. ``timeout`` (a duration:
        ``"30s"``, seconds, a timedelta) bounds each attempt: one that runs longer fails with
        ``StepTimeout`` and is retried like any failed attempt.

        The result comes back as ``fn``'s return type (a dataclass, a pydantic model, a
        ``datetime``...), stored as JSON; ``output_type`` gives the type where ``fn`` has no
        return annotation. See "Typed results" in ``docs/concepts.md``. ``timeout`` and
        ``output_type`` are reserved: they are never passed on to ``fn``.
        """
        limit = parse_duration(timeout) if timeout is not None else None
        if limit is not None and limit <= timedelta(0):
            raise ConfigError(f"step.run({step_id!r}): 'timeout' must be more than zero")
        return await self._x.run_step(step_id, fn, args, kwargs, limit, output_type)

    async def sleep(self, step_id: str, duration: Duration) -> None:
        """Sleep durably: ``"250ms"``, ``"30s"``, ``"1h30m"``, ``"1d"``, a timedelta or seconds."""
        seconds = parse_duration(duration).total_seconds()
        now = self._x.clock()
        await self._x.request_step(
            step_id, StepKind.SLEEP, lambda key: SleepRequest(key, step_id, now + seconds)
        )

    async def sleep_until(self, step_id: str, when: datetime | str) -> None:
        """Sleep durably until ``when`` (a datetime or an ISO-8601 string; naive means UTC)."""
        until = parse_instant(when).timestamp()
        await self._x.request_step(
            step_id, StepKind.SLEEP, lambda key: SleepRequest(key, step_id, until)
        )

    async def wait_for_event(
        self,
        step_id: str,
        *,
        event: str,
        timeout: Duration,
        if_: str | None = None,
        match: str | None = None,
    ) -> Event | None:
        """Wait for an event named ``event``; return it, or ``None`` after ``timeout``.

        ``if_`` is an expression over ``event`` (this run's trigger) and ``async`` (the
        candidate); ``match="data.orderId"`` is short for
        ``event.data.orderId == async.data.orderId``.
        """
        condition = _wait_condition(if_, match, step_id)
        if not isinstance(event, str) or not event or not is_text(event):
            raise ConfigError(f"step.wait_for_event({step_id!r}): 'event' must be an event name")
        timeout_at = self._x.clock() + parse_duration(timeout).total_seconds()
        found = await self._x.request_step(
            step_id,
            StepKind.WAIT_FOR_EVENT,
            lambda key: WaitRequest(key, step_id, event, timeout_at, condition),
        )
        if found is None:
            return None
        return found if isinstance(found, Event) else Event.from_dict(found)

    async def invoke(
        self,
        step_id: str,
        *,
        function: DurableFunction | str,
        data: Mapping[str, Any] | None = None,
        timeout: Duration | None = None,
        output_type: Any = None,
    ) -> Any:
        """Start a run of ``function`` with ``data`` as its event data and return its output.

        Raises :class:`durable.StepError` if the invoked run fails, is cancelled or times out.
        The output comes back as the return type of ``function``'s handler, or
        ``output_type`` (for a function given by its id, whose handler is not known here).
        """
        function_id = function if isinstance(function, str) else function.id
        if not isinstance(function_id, str) or not is_text(function_id):
            raise ConfigError(f"step.invoke({step_id!r}): 'function' must be a function id")
        handler = None if isinstance(function, str) else function.handler
        what = f"the output of function {function_id!r} invoked by step {step_id!r}"
        payload = dict(data or {})
        dumps(payload, what=f"the data of step.invoke({step_id!r})")
        timeout_at = (
            self._x.clock() + parse_duration(timeout).total_seconds()
            if timeout is not None
            else None
        )
        return await self._x.request_step(
            step_id,
            StepKind.INVOKE,
            lambda key: InvokeRequest(key, step_id, function_id, payload, timeout_at),
            typed=(handler, output_type, what),
        )

    async def send_event(
        self, step_id: str, events: Event | Mapping[str, Any] | Sequence[Any]
    ) -> list[str]:
        """Send one event or a list, exactly once for this run; return their ids."""
        run_id = self._x.request.run_id
        now_ms = int(self._x.clock() * 1000)

        def build(key: str) -> SendEventRequest:
            items = list(events) if isinstance(events, (list, tuple)) else [events]
            raw = [_with_id(item, derived_id(run_id, key, str(i))) for i, item in enumerate(items)]
            checked = validate_events(raw, now_ms=now_ms)
            return SendEventRequest(key, step_id, tuple(e.to_dict() for e in checked))

        ids = await self._x.request_step(step_id, StepKind.SEND_EVENT, build)
        return list(ids)


def _with_id(item: Any, default_id: str) -> Any:
    if isinstance(item, Event):
        item = item.to_dict() | ({} if item.id else {"id": default_id})
    if isinstance(item, Mapping) and not item.get("id"):
        return {**item, "id": default_id}
    return item


def _wait_condition(if_: str | None, match: str | None, step_id: str) -> str | None:
    parts = []
    if match is not None:
        if not isinstance(match, str) or not match.strip():
            raise ConfigError(f"step.wait_for_event({step_id!r}): 'match' must be a field path")
        field = match.strip().removeprefix("event.").removeprefix("async.")
        parts.append(f"event.{field} == async.{field}")
    if if_ is not None:
        parts.append(f"({if_})")
    if not parts:
        return None
    source = " && ".join(parts)
    try:
        compile_expression(source)
    except ExpressionError as exc:
        raise exc.with_context(function_id=None, field=f"wait_for_event({step_id!r}).if_") from None
    return source


class RunLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A ``logging`` logger that stays silent while the handler replays memoized steps.

    Lines go to the app's logger with ``run_id``, ``function_id`` and ``step`` attached, and
    are stored with the run.
    """

    def __init__(self, logger: logging.Logger, execution: Execution) -> None:
        super().__init__(logger, {})
        self._x = execution

    def isEnabledFor(self, level: int) -> bool:
        return not self._x.replaying

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if self._x.replaying:
            return
        step = current_step.get()
        extra = {
            "run_id": self._x.request.run_id,
            "function_id": self._x.request.function_id,
            "step": step[0] if step else None,
            **(kwargs.pop("extra", None) or {}),
        }
        text = str(msg) % args if args else str(msg)
        self._x.log(logging.getLevelName(level).lower(), text)
        if self.logger.isEnabledFor(level):
            self.logger.log(level, msg, *args, extra=extra, stacklevel=2, **kwargs)


class Context:
    """The handler's only argument.

    ``event`` (the trigger), ``events`` (all trigger events), ``run_id``, ``function_id``,
    ``attempt`` (0-based attempt of the step or body now executing), ``logger`` and ``step``.
    """

    def __init__(self, execution: Execution) -> None:
        request = execution.request
        self.event = Event.from_dict(request.event)
        self.events = [Event.from_dict(raw) for raw in request.events] or [self.event]
        self.run_id = request.run_id
        self.function_id = request.function_id
        self.step = Step(execution)
        self.logger: logging.LoggerAdapter[logging.Logger] = RunLogger(
            execution.function.app.logger, execution
        )
        self._body_attempt = request.attempt

    @property
    def attempt(self) -> int:
        """The 0-based attempt of the step body running now, else of the handler body."""
        step = current_step.get()
        return step[1] if step is not None else self._body_attempt

    def __repr__(self) -> str:
        return f"<Context {self.function_id} run={self.run_id} event={self.event.name!r}>"
