"""Indexable event matching: pull ``event.F == async.F`` out of a condition.

``wait_for_event(match="data.orderId")`` and the usual ``cancel_on`` rule
(``event.data.orderId == async.data.orderId``) compare one field of the run's trigger with
the same field of the incoming event. Storing that field's value with the wait lets the store
find the few candidate waits by value, instead of evaluating every wait on the event name.
The full condition is still evaluated on the candidates, so the index only narrows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_MATCH = re.compile(
    r"^\s*(?P<a>event|async)\.(?P<field>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*==\s*"
    r"(?P<b>event|async)\.(?P=field)\s*(?:&&(?P<rest>.*))?$",
    re.DOTALL,
)


def match_field(condition: str | None) -> str | None:
    """The field ``F`` if ``condition`` requires ``event.F == async.F``, else None."""
    if not condition:
        return None
    found = _MATCH.match(condition)
    if found is None or {found["a"], found["b"]} != {"event", "async"}:
        return None
    rest = found["rest"]
    if rest is not None and "||" in rest and not _one_group(rest.strip()):
        return None  # `a == b && c || d` does not require a == b
    return found["field"]


def _one_group(text: str) -> bool:
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    for i, char in enumerate(text):
        depth += char == "("
        depth -= char == ")"
        if depth == 0 and i < len(text) - 1:
            return False
    return True


def field_value(event: Mapping[str, Any], field: str) -> str | None:
    """The value at ``field`` (``data.orderId``) as an index key, or None if missing."""
    value: Any = event
    for part in field.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
