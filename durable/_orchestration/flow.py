"""Flow control, I/O-free: concurrency keys, flow keys, priority, idempotency keys, cron ticks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._define.config import FunctionConfig
from .._define.expressions import Expression
from .._define.flow_options import PRIORITY_CLAMP
from .._define.triggers import CronTrigger
from .._ids import derived_id

CRON_EVENT = "durable/scheduled.timer"


def concurrency_keys(config: FunctionConfig, event: Mapping[str, Any]) -> list[str]:
    """One slot key per concurrency rule: ``function#rule#value`` (value empty without key),
    or ``env#value`` for a rule of ``scope: "env"`` (shared by every function using it)."""
    keys = []
    for index, rule in enumerate(config.concurrency):
        value = flow_key(rule.key, event)
        keys.append(f"env#{value}" if rule.scope == "env" else f"{config.id}#{index}#{value}")
    return keys


def concurrency_slots(config: FunctionConfig, keys: list[str]) -> list[tuple[str, int]]:
    """The ``(key, limit)`` pairs a run takes to start a pass."""
    return list(zip(keys, (rule.limit for rule in config.concurrency), strict=False))


def flow_key(expression: Expression | None, event: Mapping[str, Any]) -> str:
    """The value of a flow-control ``key`` for ``event`` (empty: no key, or no value)."""
    if expression is None:
        return ""
    return expression.key({"event": event}) or ""


def priority_of(config: FunctionConfig, event: Mapping[str, Any]) -> float:
    """The ``priority.run`` seconds for ``event``, clamped to +-600 (0 without, or on error)."""
    expression = config.flow.priority
    if expression is None:
        return 0.0
    value = expression.value({"event": event})
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return 0.0
    return float(max(-PRIORITY_CLAMP, min(PRIORITY_CLAMP, value)))


def idempotency_key(config: FunctionConfig, event: Mapping[str, Any]) -> str | None:
    """The run's idempotency key, or None (no expression, or it did not evaluate)."""
    if config.idempotency is None:
        return None
    return config.idempotency.key({"event": event})


def cron_event(function_id: str, trigger: CronTrigger, tick: float) -> dict[str, Any]:
    """The event of one cron tick; its id is derived from the tick so it fires at most once."""
    tick_ms = int(tick * 1000)
    return {
        "name": CRON_EVENT,
        "id": derived_id("cron", function_id, trigger.cron, str(tick_ms)),
        "ts": tick_ms,
        "data": {"cron": trigger.cron, "function_id": function_id},
    }
