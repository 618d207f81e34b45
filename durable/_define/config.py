"""Function configuration: every option of ``@app.function``, validated once, frozen.

``parse_function_config`` takes the raw options (as the decorator receives them, or as a
dict coming back over the wire from a worker) and returns a :class:`FunctionConfig`, raising
one clear :class:`ConfigError` naming the function id and the option on bad input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .._errors import ConfigError, ExpressionError, InvalidDurationError
from .._limits import MAX_CONCURRENCY_RULES, MAX_TRIGGERS
from .backoff import Backoff, parse_backoff
from .durations import parse_duration
from .expressions import Expression, compile_expression
from .flow_options import FLOW_OPTION_NAMES, FlowOptions, parse_flow_options
from .triggers import (
    CronTrigger,
    EventTrigger,
    Trigger,
    is_wildcard,
    parse_trigger,
    validate_event_pattern,
)

_FUNCTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
MAX_RETRIES = 20

#: Options accepted by ``@app.function`` besides ``id`` and ``triggers``.
KNOWN_OPTIONS = frozenset(
    {
        "name",
        "retries",
        "backoff",
        "concurrency",
        "idempotency",
        "cancel_on",
        "timeouts",
        "checkpointing",
        *FLOW_OPTION_NAMES,
    }
)


@dataclass(frozen=True, slots=True)
class ConcurrencyRule:
    """At most ``limit`` runs executing at once, per value of ``key`` when given.

    ``scope``: ``fn`` (this function's runs) or ``env`` (every function using the same key).
    """

    limit: int
    key: Expression | None = None
    scope: str = "fn"


@dataclass(frozen=True, slots=True)
class CancelRule:
    """Cancel a run when an event named ``event`` arrives (and ``if_`` holds)."""

    event: str
    if_: Expression | None = None
    timeout: timedelta | None = None


@dataclass(frozen=True, slots=True)
class FunctionConfig:
    """The validated, frozen configuration of one durable function."""

    id: str
    name: str
    triggers: tuple[Trigger, ...]
    retries: int = 4
    backoff: Backoff | None = None
    concurrency: tuple[ConcurrencyRule, ...] = ()
    idempotency: Expression | None = None
    cancel_on: tuple[CancelRule, ...] = ()
    start_timeout: timedelta | None = None
    finish_timeout: timedelta | None = None
    checkpointing: bool = True
    max_runtime: timedelta | None = None
    flow: FlowOptions = field(default_factory=FlowOptions)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def event_triggers(self) -> tuple[EventTrigger, ...]:
        """The event triggers, in declaration order."""
        return tuple(t for t in self.triggers if isinstance(t, EventTrigger))

    @property
    def cron_triggers(self) -> tuple[CronTrigger, ...]:
        """The cron triggers, in declaration order."""
        return tuple(t for t in self.triggers if isinstance(t, CronTrigger))

    def to_dict(self) -> dict[str, Any]:
        """The options as JSON-ready data; ``parse_function_config`` reads it back."""
        result: dict[str, Any] = jsonable(dict(self.raw))
        return result


def jsonable(value: Any) -> Any:
    """Options as JSON: durations (timedelta) in seconds, tuples as lists."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def parse_function_config(options: Mapping[str, Any]) -> FunctionConfig:
    """Validate raw options into a :class:`FunctionConfig`."""
    function_id = options.get("id")
    if not isinstance(function_id, str) or not _FUNCTION_ID.fullmatch(function_id):
        raise ConfigError(
            f"a function id must be 1-128 characters of letters, digits and . _ : / -, "
            f"starting with a letter or digit; got {function_id!r}",
            field="id",
        )
    unknown = sorted(set(options) - KNOWN_OPTIONS - {"id", "triggers"})
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(map(repr, unknown))}; "
            f"known options: {', '.join(sorted(KNOWN_OPTIONS | {'id', 'triggers'}))}",
            function_id=function_id,
            field=unknown[0],
        )
    checkpointing, max_runtime = _checkpointing(options.get("checkpointing", True), function_id)
    start_timeout, finish_timeout = _timeouts(options.get("timeouts"), function_id)
    name = options.get("name", function_id)
    if not isinstance(name, str):
        raise ConfigError("'name' must be a string", function_id=function_id, field="name")
    raw = {key: options[key] for key in options if options[key] is not None}
    return FunctionConfig(
        id=function_id,
        name=name,
        triggers=_triggers(options.get("triggers"), function_id),
        retries=_retries(options.get("retries", 4), function_id),
        backoff=parse_backoff(options.get("backoff"), function_id=function_id),
        concurrency=_concurrency(options.get("concurrency"), function_id),
        idempotency=_expression(options.get("idempotency"), function_id, "idempotency"),
        cancel_on=_cancel_on(options.get("cancel_on"), function_id),
        start_timeout=start_timeout,
        finish_timeout=finish_timeout,
        checkpointing=checkpointing,
        max_runtime=max_runtime,
        flow=parse_flow_options(options, function_id),
        raw=raw,
    )


def _triggers(raw: Any, function_id: str) -> tuple[Trigger, ...]:
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, (list, tuple)):
        raise ConfigError(
            "'triggers' must be a list of {'event': ...} or {'cron': ...} objects",
            function_id=function_id,
            field="triggers",
        )
    if not 1 <= len(raw) <= MAX_TRIGGERS:
        raise ConfigError(
            f"a function has 1 to {MAX_TRIGGERS} triggers, got {len(raw)}",
            function_id=function_id,
            field="triggers",
        )
    return tuple(
        parse_trigger(item, function_id=function_id, index=i) for i, item in enumerate(raw)
    )


def _retries(raw: Any, function_id: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_RETRIES:
        raise ConfigError(
            f"'retries' must be an integer from 0 to {MAX_RETRIES}, got {raw!r}",
            function_id=function_id,
            field="retries",
        )
    return raw


def _expression(
    raw: Any,
    function_id: str,
    field_name: str,
    *,
    variables: tuple[str, ...] = ("event",),
    boolean: bool = False,
) -> Expression | None:
    if raw is None:
        return None
    try:
        return compile_expression(raw, variables=variables, boolean=boolean)
    except ExpressionError as exc:
        raise exc.with_context(function_id=function_id, field=field_name) from None


def _concurrency(raw: Any, function_id: str) -> tuple[ConcurrencyRule, ...]:
    if raw is None:
        return ()
    items = raw if isinstance(raw, (list, tuple)) else [raw]
    if len(items) > MAX_CONCURRENCY_RULES:
        raise ConfigError(
            f"at most {MAX_CONCURRENCY_RULES} concurrency rules, got {len(items)}",
            function_id=function_id,
            field="concurrency",
        )
    rules = []
    for i, item in enumerate(items):
        where = f"concurrency[{i}]" if isinstance(raw, (list, tuple)) else "concurrency"
        if isinstance(item, Mapping):
            unknown = set(item) - {"limit", "key", "scope"}
            if unknown:
                raise ConfigError(
                    f"unknown key(s) {sorted(unknown)}; a rule has 'limit', 'key' and 'scope'",
                    function_id=function_id,
                    field=where,
                )
            limit, key = (
                item.get("limit"),
                _expression(item.get("key"), function_id, where + ".key"),
            )
            scope = item.get("scope", "fn")
            if scope not in ("fn", "env"):
                raise ConfigError(
                    f"'scope' must be 'fn' or 'env', got {scope!r}",
                    function_id=function_id,
                    field=where + ".scope",
                )
            if scope == "env" and key is None:
                raise ConfigError(
                    "'scope': 'env' needs a 'key' (the limit is shared by every function "
                    "using the same key)",
                    function_id=function_id,
                    field=where + ".key",
                )
        else:
            limit, key, scope = item, None, "fn"
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(
                f"the limit must be a positive integer, got {limit!r}",
                function_id=function_id,
                field=where,
            )
        rules.append(ConcurrencyRule(limit=limit, key=key, scope=scope))
    return tuple(rules)


def _cancel_on(raw: Any, function_id: str) -> tuple[CancelRule, ...]:
    if raw is None:
        return ()
    items = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(items, (list, tuple)):
        raise ConfigError(
            "'cancel_on' must be a list of {'event': ..., 'if': ...} objects",
            function_id=function_id,
            field="cancel_on",
        )
    rules = []
    for i, item in enumerate(items):
        where = f"cancel_on[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError("must be an object", function_id=function_id, field=where)
        unknown = set(item) - {"event", "if", "timeout"}
        if unknown:
            raise ConfigError(
                f"unknown key(s) {sorted(unknown)}; a rule has 'event', 'if' and 'timeout'",
                function_id=function_id,
                field=where,
            )
        event = validate_event_pattern(
            item.get("event"), function_id=function_id, field=where + ".event"
        )
        if is_wildcard(event):
            raise ConfigError(
                f"cancel_on takes an exact event name, not the pattern {event!r}",
                function_id=function_id,
                field=where + ".event",
            )
        timeout = _duration(item.get("timeout"), function_id, where + ".timeout")
        rules.append(
            CancelRule(
                event=event,
                if_=_expression(
                    item.get("if"),
                    function_id,
                    where + ".if",
                    variables=("event", "async"),
                    boolean=True,
                ),
                timeout=timeout,
            )
        )
    return tuple(rules)


def _duration(raw: Any, function_id: str, field_name: str) -> timedelta | None:
    if raw is None:
        return None
    try:
        return parse_duration(raw)
    except InvalidDurationError as exc:
        raise ConfigError(exc.message, function_id=function_id, field=field_name) from None


def _timeouts(raw: Any, function_id: str) -> tuple[timedelta | None, timedelta | None]:
    if raw is None:
        return None, None
    if not isinstance(raw, Mapping) or set(raw) - {"start", "finish"}:
        raise ConfigError(
            "'timeouts' must be an object with 'start' and/or 'finish' durations",
            function_id=function_id,
            field="timeouts",
        )
    return (
        _duration(raw.get("start"), function_id, "timeouts.start"),
        _duration(raw.get("finish"), function_id, "timeouts.finish"),
    )


def _checkpointing(raw: Any, function_id: str) -> tuple[bool, timedelta | None]:
    if isinstance(raw, bool):
        return raw, None
    if isinstance(raw, Mapping) and set(raw) <= {"max_runtime"}:
        return True, _duration(raw.get("max_runtime"), function_id, "checkpointing.max_runtime")
    raise ConfigError(
        "'checkpointing' must be True, False or {'max_runtime': DURATION}",
        function_id=function_id,
        field="checkpointing",
    )
