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

from ._app import Durable, DurableFunction
from ._context import Context, Step
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
    RetryAfterError,
    SendError,
    SerializationError,
    StepError,
    UnknownFunctionError,
)
from ._events import Event

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
    "RetryAfterError",
    "SendError",
    "SerializationError",
    "Step",
    "StepError",
    "UnknownFunctionError",
    "__version__",
]
