"""The function registry of orchestration: configs by id and the trigger index.

Orchestration never imports user code: it knows functions by their
:class:`~durable._define.config.FunctionConfig` only. A host replaces the whole set on start and on
every reload (:meth:`FunctionRegistry.replace`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._define.config import FunctionConfig
from .._define.triggers import EventNameIndex
from .._errors import UnknownFunctionError


class FunctionRegistry:
    """The registered function configs, by id and by the event names that trigger them."""

    def __init__(self, functions: Iterable[FunctionConfig] = ()) -> None:
        self._by_id: dict[str, FunctionConfig] = {}
        self._triggers: EventNameIndex[FunctionConfig] = EventNameIndex()
        self.replace(functions)

    def replace(self, functions: Iterable[FunctionConfig]) -> None:
        """Replace every registered function."""
        self._by_id = {}
        self._triggers = EventNameIndex()
        for config in functions:
            self._by_id[config.id] = config
            for trigger in config.event_triggers:
                self._triggers.add(trigger.event, config)

    def all(self) -> list[FunctionConfig]:
        """The registered configs."""
        return list(self._by_id.values())

    def get(self, function_id: str) -> FunctionConfig | None:
        """The config of ``function_id``, or None if it is not registered (any more)."""
        return self._by_id.get(function_id)

    def __contains__(self, function_id: object) -> bool:
        return function_id in self._by_id

    def require(self, function_id: str) -> FunctionConfig:
        """The config of ``function_id``; raises :class:`UnknownFunctionError` if unknown."""
        try:
            return self._by_id[function_id]
        except KeyError:
            raise UnknownFunctionError(function_id) from None

    def triggered(self, event: dict[str, Any]) -> list[FunctionConfig]:
        """The functions ``event`` triggers: name index first, then each trigger's ``if``."""
        matched: dict[str, FunctionConfig] = {}
        for config in self._triggers.lookup(event["name"]):
            if config.id in matched:
                continue
            if any(trigger.matches(event) for trigger in config.event_triggers):
                matched[config.id] = config
        return list(matched.values())
