"""Start one function by hand (``POST /api/functions/{id}/invoke``): invoke it, or run a cron now.

A direct start skips trigger matching: only the named function runs, whatever its triggers'
``if`` expressions say. Its event is ``durable/function.invoked`` with the given data (as a
``step.invoke`` child run gets), or, for a function with only cron triggers, the
``durable/scheduled.timer`` event its schedule would send, so the handler sees what it would
see on a tick.
"""

from __future__ import annotations

from typing import Any

from durable._define.config import FunctionConfig
from durable._orchestration.flow import CRON_EVENT
from durable._orchestration.runs import FUNCTION_INVOKED


def invocation_event(config: FunctionConfig, data: dict[str, Any]) -> dict[str, Any]:
    """The event a by-hand start of ``config`` runs with (id and ts are filled in later)."""
    if config.cron_triggers and not config.event_triggers:
        cron = config.cron_triggers[0].cron
        return {"name": CRON_EVENT, "data": {"cron": cron, "function_id": config.id, **data}}
    return {"name": FUNCTION_INVOKED, "data": data}
