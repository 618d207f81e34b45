"""durable: durable functions for Python.

Functions triggered by events or cron, made of memoized, retried, checkpointed steps::

    from durable import Durable

    app = Durable(id="shop")

    @app.function(id="process-order", triggers=[{"event": "order/created"}])
    async def process_order(ctx):
        charge = await ctx.step.run("charge", charge_card, ctx.event.data["orderId"])
        await ctx.step.sleep("cool-off", "1d")
        return charge
"""

from typing import TYPE_CHECKING

from ._lazy import lazy_names

if TYPE_CHECKING:
    from ._define.app import Durable, DurableFunction
    from ._define.events import Event
    from ._engine.context import Context, Step
    from ._errors import (
        ConfigError,
        CronError,
        DuplicateFunctionError,
        DurableError,
        EventTooLargeError,
        ExpressionError,
        InvalidDurationError,
        InvalidEventError,
        InvalidInstantError,
        LimitExceededError,
        NonDeterminismError,
        NonRetriableError,
        ResultTypeError,
        RetryAfterError,
        SendError,
        SerializationError,
        StepError,
        UnknownFunctionError,
    )

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Context",
    "CronError",
    "DuplicateFunctionError",
    "Durable",
    "DurableError",
    "DurableFunction",
    "Event",
    "EventTooLargeError",
    "ExpressionError",
    "InvalidDurationError",
    "InvalidEventError",
    "InvalidInstantError",
    "LimitExceededError",
    "NonDeterminismError",
    "NonRetriableError",
    "ResultTypeError",
    "RetryAfterError",
    "SendError",
    "SerializationError",
    "Step",
    "StepError",
    "UnknownFunctionError",
    "__version__",
]

#: Where each public name lives. Importing ``durable`` stays cheap (the engine loads on first
#: use), so ``durable dev`` reaches its worker spawn sooner: see ``docs/performance.md``.
_HOMES = {
    "Durable": "._define.app",
    "DurableFunction": "._define.app",
    "Context": "._engine.context",
    "Step": "._engine.context",
    "Event": "._define.events",
    **{name: "._errors" for name in __all__ if name.endswith("Error")},
}


__getattr__, __dir__ = lazy_names(__name__, _HOMES, __all__, globals(), cache=True)
