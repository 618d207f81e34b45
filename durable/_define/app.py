"""The app object and the function decorator: definitions only, no I/O."""

from __future__ import annotations

import inspect
import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._errors import ConfigError, DuplicateFunctionError, UnknownFunctionError
from .config import FunctionConfig, parse_function_config

if TYPE_CHECKING:
    from .._engine.context import Context
    from .events import Event

Handler = Callable[["Context"], Awaitable[Any]]

DEFAULT_URL = "http://127.0.0.1:8288"


class DurableFunction:
    """A registered durable function: its frozen config and its handler.

    Pass it to ``step.invoke(function=...)``; its ``id`` is the stable public name.
    """

    def __init__(self, app: Durable, config: FunctionConfig, handler: Handler) -> None:
        self.app = app
        self.config = config
        self.handler = handler
        self.__doc__ = handler.__doc__
        self.__name__ = getattr(handler, "__name__", config.id)
        self.__wrapped__ = handler

    @property
    def id(self) -> str:
        """The function id, unique within its app."""
        return self.config.id

    def source_location(self) -> tuple[str, int] | None:
        """``(file, line)`` where the handler is defined, for error messages."""
        try:
            return inspect.getsourcefile(self.handler) or "?", inspect.getsourcelines(self.handler)[
                1
            ]
        except (OSError, TypeError):
            return None

    async def __call__(self, ctx: Context) -> Any:
        return await self.handler(ctx)

    def __repr__(self) -> str:
        return f"<DurableFunction {self.app.id}/{self.id}>"


class Durable:
    """An app: a named collection of durable functions.

    >>> app = Durable(id="shop")
    >>> @app.function(id="hello", triggers=[{"event": "demo/hello"}])
    ... async def hello(ctx): return "hi"
    """

    def __init__(self, id: str, *, logger: logging.Logger | None = None) -> None:
        if not isinstance(id, str) or not id.strip():
            raise ConfigError(f"an app id must be a non-empty string, got {id!r}", field="id")
        self.id = id
        self.logger = logger if logger is not None else logging.getLogger("durable")
        self._functions: dict[str, DurableFunction] = {}

    @property
    def functions(self) -> Mapping[str, DurableFunction]:
        """The registered functions by id, in registration order."""
        return dict(self._functions)

    def get_function(self, function_id: str) -> DurableFunction:
        """The function registered as ``function_id``; :class:`UnknownFunctionError` if none."""
        try:
            return self._functions[function_id]
        except KeyError:
            raise UnknownFunctionError(function_id) from None

    def function(
        self,
        *,
        id: str,
        triggers: Sequence[Mapping[str, Any]] | Mapping[str, Any],
        **options: Any,
    ) -> Callable[[Handler], DurableFunction]:
        """Declare a durable function. Every option is validated here, at decoration time.

        Options: ``name``, ``retries`` (default 4), ``backoff``, ``concurrency``,
        ``idempotency``, ``cancel_on``, ``timeouts``, ``checkpointing``, and flow control:
        ``throttle``, ``rate_limit``, ``debounce``, ``batch_events``, ``priority``,
        ``singleton``, ``on_failure`` (see docs/flow-control.md).
        """
        on_failure = options.pop("on_failure", None)
        config = parse_function_config({"id": id, "triggers": triggers, **options})
        if on_failure is not None and not inspect.iscoroutinefunction(on_failure):
            raise ConfigError(
                "'on_failure' must be an 'async def' function taking ctx",
                function_id=config.id,
                field="on_failure",
            )
        if config.id in self._functions:
            raise DuplicateFunctionError(
                "another function of this app already uses this id",
                function_id=config.id,
                field="id",
            )

        def register(handler: Handler) -> DurableFunction:
            if not inspect.iscoroutinefunction(handler):
                raise ConfigError(
                    "the handler must be an 'async def' function taking ctx",
                    function_id=config.id,
                )
            if config.id in self._functions:
                raise DuplicateFunctionError(
                    "another function of this app already uses this id",
                    function_id=config.id,
                    field="id",
                )
            fn = DurableFunction(self, config, handler)
            self._functions[config.id] = fn
            if on_failure is not None:
                self._register_on_failure(config.id, on_failure)
            return fn

        return register

    def _register_on_failure(self, function_id: str, handler: Handler) -> None:
        """``on_failure``: its own function ``<id>-failure``, triggered by this function's
        ``durable/function.failed`` only."""
        failure_id = f"{function_id}-failure"
        if failure_id in self._functions:
            raise DuplicateFunctionError(
                f"on_failure registers {failure_id!r}, which another function already uses",
                function_id=function_id,
                field="on_failure",
            )
        config = parse_function_config(
            {
                "id": failure_id,
                "triggers": [
                    {
                        "event": "durable/function.failed",
                        "if": f"event.data.function_id == {json.dumps(function_id)}",
                    }
                ],
            }
        )
        self._functions[failure_id] = DurableFunction(self, config, handler)

    async def send(self, events: Event | Mapping[str, Any] | Sequence[Any]) -> list[str]:
        """Send one event or a list to the server at ``DURABLE_URL``; returns the event ids."""
        from .client import send_events

        return await send_events(events, url=os.environ.get("DURABLE_URL", DEFAULT_URL))

    def send_sync(self, events: Event | Mapping[str, Any] | Sequence[Any]) -> list[str]:
        """Blocking form of :meth:`send`, for code outside an event loop."""
        from .client import send_events_sync

        return send_events_sync(events, url=os.environ.get("DURABLE_URL", DEFAULT_URL))

    def __repr__(self) -> str:
        return f"<Durable {self.id!r} with {len(self._functions)} function(s)>"
