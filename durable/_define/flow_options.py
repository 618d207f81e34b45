"""Flow-control options of ``@app.function`` (SPEC section 7), validated into frozen rules.

``throttle``, ``rate_limit``, ``debounce``, ``batch_events``, ``priority`` and ``singleton``;
each parser raises one :class:`ConfigError` naming the function and the field. The
combinations Inngest refuses are refused by :func:`check_combinations`, naming both options.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import ConfigError, ExpressionError, InvalidDurationError
from .durations import parse_duration
from .expressions import Expression, compile_expression

#: Bounds of ``period`` (seconds) per option: throttle 1s-7d, rate_limit 1s-24h.
THROTTLE_PERIOD = (1.0, 7 * 86400.0)
RATE_LIMIT_PERIOD = (1.0, 86400.0)
#: Debounce ``period``/``timeout`` and batch ``timeout`` bounds (Inngest: up to 7 days).
DEBOUNCE_PERIOD = (1.0, 7 * 86400.0)
BATCH_TIMEOUT = (1.0, 60.0)
MAX_BATCH_SIZE = 10_000
#: Priority expressions are clamped to +-600 seconds.
PRIORITY_CLAMP = 600.0


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    """At most ``limit`` run starts per ``period`` seconds per key, plus ``burst`` at once."""

    limit: int
    period: float
    burst: int = 1
    key: Expression | None = None

    @property
    def interval(self) -> float:
        """GCRA emission interval: one start every ``period / limit`` seconds."""
        return self.period / self.limit

    @property
    def tolerance(self) -> float:
        """GCRA tolerance: ``limit + burst`` starts may go at once."""
        return self.interval * (self.limit + self.burst - 1)


@dataclass(frozen=True, slots=True)
class RateLimitRule:
    """Lossy: at most ``limit`` runs per ``period`` seconds per key; the rest are skipped."""

    limit: int
    period: float
    key: Expression | None = None

    @property
    def interval(self) -> float:
        """GCRA emission interval."""
        return self.period / self.limit

    @property
    def tolerance(self) -> float:
        """GCRA tolerance: ``limit`` at once."""
        return self.interval * (self.limit - 1)


@dataclass(frozen=True, slots=True)
class DebounceRule:
    """Start ``period`` seconds after the last event of a key; ``timeout`` caps the delay."""

    period: float
    key: Expression | None = None
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class BatchRule:
    """One run for up to ``max_size`` events, or those within ``timeout`` of the first."""

    max_size: int
    timeout: float
    key: Expression | None = None
    if_: Expression | None = None


@dataclass(frozen=True, slots=True)
class SingletonRule:
    """At most one run per key at a time: ``skip`` new ones or ``cancel`` the running one."""

    mode: str
    key: Expression | None = None


@dataclass(frozen=True, slots=True)
class FlowOptions:
    """The flow-control rules of one function (None: not set)."""

    throttle: ThrottleRule | None = None
    rate_limit: RateLimitRule | None = None
    debounce: DebounceRule | None = None
    batch_events: BatchRule | None = None
    priority: Expression | None = None
    singleton: SingletonRule | None = None


FLOW_OPTION_NAMES = ("throttle", "rate_limit", "debounce", "batch_events", "priority", "singleton")

#: SPEC 7: what ``batch_events`` / ``debounce`` may not be combined with.
REFUSED = {
    "batch_events": (
        "idempotency",
        "rate_limit",
        "cancel_on",
        "priority",
        "debounce",
        "singleton",
    ),
    "debounce": ("batch_events",),
}


def check_combinations(options: Mapping[str, Any], function_id: str) -> None:
    """Refuse the combinations Inngest refuses, naming both options."""
    for option, others in REFUSED.items():
        if options.get(option) is None:
            continue
        for other in others:
            if options.get(other) is not None:
                raise ConfigError(
                    f"'{option}' cannot be combined with '{other}' (as in Inngest): "
                    f"remove one of them",
                    function_id=function_id,
                    field=option,
                )


def parse_flow_options(options: Mapping[str, Any], function_id: str) -> FlowOptions:
    """Validate the flow-control options present in ``options``."""
    check_combinations(options, function_id)
    parsers: dict[str, Callable[[Mapping[str, Any], _Fields], Any]] = {
        "throttle": _throttle,
        "rate_limit": _rate_limit,
        "debounce": _debounce,
        "batch_events": _batch,
        "singleton": _singleton,
    }
    values: dict[str, Any] = {}
    for name, parse in parsers.items():
        raw = options.get(name)
        if raw is not None:
            values[name] = parse(raw, _Fields(function_id, name, raw))
    raw_priority = options.get("priority")
    if raw_priority is not None:
        fields = _Fields(function_id, "priority", raw_priority)
        fields.only({"run"}, "a priority has 'run' (an expression giving seconds)")
        values["priority"] = fields.expression("run", required=True)
    return FlowOptions(**values)


class _Fields:
    """Reads the fields of one option's object, with errors naming ``option.field``."""

    def __init__(self, function_id: str, option: str, raw: Any) -> None:
        self.function_id, self.option = function_id, option
        if not isinstance(raw, Mapping):
            raise ConfigError(
                f"'{option}' must be an object, got {type(raw).__name__}",
                function_id=function_id,
                field=option,
            )
        self.raw: Mapping[str, Any] = raw

    def fail(self, name: str, message: str) -> ConfigError:
        return ConfigError(message, function_id=self.function_id, field=f"{self.option}.{name}")

    def only(self, allowed: set[str], hint: str) -> None:
        unknown = sorted(set(self.raw) - allowed)
        if unknown:
            raise ConfigError(
                f"unknown key(s) {unknown}; {hint}", function_id=self.function_id, field=self.option
            )

    def integer(self, name: str, *, low: int, high: int, default: int | None = None) -> int:
        value = self.raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(name, f"must be an integer from {low} to {high}, got {value!r}")
        return value

    def seconds(
        self, name: str, bounds: tuple[float, float], *, required: bool = True
    ) -> float | None:
        value = self.raw.get(name)
        if value is None:
            if required:
                raise self.fail(name, "missing (a duration such as '30s', '5m', '1h')")
            return None
        try:
            seconds = parse_duration(value).total_seconds()
        except InvalidDurationError as exc:
            raise self.fail(name, exc.message) from None
        low, high = bounds
        if not low <= seconds <= high:
            raise self.fail(
                name, f"must be from {_shown(low)} to {_shown(high)}, got {_shown(seconds)}"
            )
        return seconds

    def expression(
        self, name: str, *, required: bool = False, boolean: bool = False
    ) -> Expression | None:
        value = self.raw.get(name)
        if value is None:
            if required:
                raise self.fail(name, "missing (an expression over 'event')")
            return None
        try:
            return compile_expression(value, variables=("event",), boolean=boolean)
        except ExpressionError as exc:
            raise exc.with_context(
                function_id=self.function_id, field=f"{self.option}.{name}"
            ) from None


def _shown(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _throttle(raw: Mapping[str, Any], f: _Fields) -> ThrottleRule:
    f.only({"limit", "period", "burst", "key"}, "a throttle has limit, period, burst and key")
    period = f.seconds("period", THROTTLE_PERIOD)
    assert period is not None
    return ThrottleRule(
        limit=f.integer("limit", low=1, high=10_000),
        period=period,
        burst=f.integer("burst", low=0, high=10_000, default=1),
        key=f.expression("key"),
    )


def _rate_limit(raw: Mapping[str, Any], f: _Fields) -> RateLimitRule:
    f.only({"limit", "period", "key"}, "a rate_limit has limit, period and key")
    period = f.seconds("period", RATE_LIMIT_PERIOD)
    assert period is not None
    return RateLimitRule(
        limit=f.integer("limit", low=1, high=10_000), period=period, key=f.expression("key")
    )


def _debounce(raw: Mapping[str, Any], f: _Fields) -> DebounceRule:
    f.only({"period", "key", "timeout"}, "a debounce has period, key and timeout")
    period = f.seconds("period", DEBOUNCE_PERIOD)
    assert period is not None
    timeout = f.seconds("timeout", DEBOUNCE_PERIOD, required=False)
    if timeout is not None and timeout < period:
        raise f.fail("timeout", f"must be at least the period ({_shown(period)})")
    return DebounceRule(period=period, key=f.expression("key"), timeout=timeout)


def _batch(raw: Mapping[str, Any], f: _Fields) -> BatchRule:
    f.only({"max_size", "timeout", "key", "if"}, "a batch_events has max_size, timeout, key, if")
    timeout = f.seconds("timeout", BATCH_TIMEOUT)
    assert timeout is not None
    return BatchRule(
        max_size=f.integer("max_size", low=1, high=MAX_BATCH_SIZE),
        timeout=timeout,
        key=f.expression("key"),
        if_=f.expression("if", boolean=True),
    )


def _singleton(raw: Mapping[str, Any], f: _Fields) -> SingletonRule:
    f.only({"key", "mode"}, "a singleton has mode ('skip' or 'cancel') and key")
    mode = raw.get("mode")
    if mode not in ("skip", "cancel"):
        raise f.fail("mode", f"must be 'skip' or 'cancel', got {mode!r}")
    return SingletonRule(mode=str(mode), key=f.expression("key"))
