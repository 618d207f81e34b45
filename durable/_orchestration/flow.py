"""Flow control, I/O-free: concurrency keys and slots, idempotency keys, cron ticks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from .._define.config import FunctionConfig
from .._define.triggers import CronTrigger
from .._ids import derived_id

CRON_EVENT = "durable/scheduled.timer"


def concurrency_keys(config: FunctionConfig, event: Mapping[str, Any]) -> list[str]:
    """One slot key per concurrency rule: ``function#rule#value`` (value empty without key)."""
    keys = []
    for index, rule in enumerate(config.concurrency):
        value = "" if rule.key is None else (rule.key.key({"event": event}) or "")
        keys.append(f"{config.id}#{index}#{value}")
    return keys


def idempotency_key(config: FunctionConfig, event: Mapping[str, Any]) -> str | None:
    """The run's idempotency key, or None (no expression, or it did not evaluate)."""
    if config.idempotency is None:
        return None
    return config.idempotency.key({"event": event})


class Slots:
    """Counts passes in flight per concurrency key; a run starts only if all its keys have room."""

    def __init__(self) -> None:
        self._used: Counter[str] = Counter()

    def try_acquire(self, config: FunctionConfig, keys: list[str]) -> bool:
        """Take one slot of each key, or none if any key is at its limit."""
        limits = [rule.limit for rule in config.concurrency]
        pairs = list(zip(keys, limits, strict=False))
        if any(self._used[key] >= limit for key, limit in pairs):
            return False
        for key, _ in pairs:
            self._used[key] += 1
        return True

    def release(self, keys: list[str]) -> None:
        """Give back the slots taken by :meth:`try_acquire`."""
        for key in keys:
            self._used[key] -= 1
            if self._used[key] <= 0:
                del self._used[key]


def cron_event(function_id: str, trigger: CronTrigger, tick: float) -> dict[str, Any]:
    """The event of one cron tick; its id is derived from the tick so it fires at most once."""
    tick_ms = int(tick * 1000)
    return {
        "name": CRON_EVENT,
        "id": derived_id("cron", function_id, trigger.cron, str(tick_ms)),
        "ts": tick_ms,
        "data": {"cron": trigger.cron, "function_id": function_id},
    }
