"""Delays between attempts of a step (or of a function body) after a failure.

Three shapes, all answering :meth:`Backoff.delay`:

- the default schedule (like Inngest's): 15s, 30s, 1m, 2m, 5m, 10m, 20m, 40m, 1h, 2h, then
  2h again, each plus up to 30s of random jitter;
- ``backoff=["100ms", "1s", "10s"]``: those delays in order, the last one repeating, no jitter;
- ``backoff={"initial": "1s", "max": "10m", "factor": 2, "jitter": 0.2}``: exponential,
  ``initial * factor ** (failures - 1)`` capped at ``max``, plus a random part of up to
  ``jitter`` times that delay. Defaults: initial 1s, max 2h, factor 2, jitter 0.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .._errors import ConfigError, InvalidDurationError
from .durations import parse_duration

_MAX_SCHEDULE = 100


class Backoff(ABC):
    """How long to wait before the next attempt."""

    @abstractmethod
    def delay(self, failures: int, rng: random.Random) -> timedelta:
        """The wait after ``failures`` failed attempts (1 = the first failure)."""


def _check_failures(failures: int) -> None:
    if isinstance(failures, bool) or not isinstance(failures, int) or failures < 1:
        raise ValueError(f"failures must be an integer >= 1, got {failures!r}")


@dataclass(frozen=True, slots=True)
class ScheduleBackoff(Backoff):
    """Fixed delays in order, the last one repeating, each plus up to ``jitter`` at random."""

    delays: tuple[timedelta, ...]
    jitter: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if not self.delays:
            raise ValueError("a backoff schedule needs at least one delay")

    def delay(self, failures: int, rng: random.Random) -> timedelta:
        """The scheduled delay for this failure plus a uniform random part of ``jitter``."""
        _check_failures(failures)
        base = self.delays[min(failures, len(self.delays)) - 1]
        if not self.jitter:
            return base
        return base + timedelta(seconds=rng.uniform(0.0, self.jitter.total_seconds()))


@dataclass(frozen=True, slots=True)
class ExponentialBackoff(Backoff):
    """``initial * factor ** (failures - 1)`` capped at ``maximum``, plus up to ``jitter`` of it."""

    initial: timedelta
    maximum: timedelta
    factor: float = 2.0
    jitter: float = 0.0

    def delay(self, failures: int, rng: random.Random) -> timedelta:
        """The exponential delay for this failure, with its random jitter added."""
        _check_failures(failures)
        initial, maximum = self.initial.total_seconds(), self.maximum.total_seconds()
        if initial <= 0:
            seconds = 0.0
        elif self.factor > 1 and (failures - 1) * math.log(self.factor) >= math.log(
            maximum / initial
        ):
            seconds = maximum
        else:
            seconds = min(maximum, initial * self.factor ** (failures - 1))
        if self.jitter:
            seconds += rng.uniform(0.0, self.jitter * seconds)
        return timedelta(seconds=seconds)


#: The default schedule: 15s, 30s, 1m, 2m, 5m, 10m, 20m, 40m, 1h, 2h (repeating), + <=30s.
DEFAULT_BACKOFF: Backoff = ScheduleBackoff(
    delays=tuple(timedelta(seconds=s) for s in (15, 30, 60, 120, 300, 600, 1200, 2400, 3600, 7200)),
    jitter=timedelta(seconds=30),
)


def fixed_backoff(delay: timedelta | str | int | float) -> Backoff:
    """The same delay before every attempt, without jitter (``durable dev --retry-interval``)."""
    return ScheduleBackoff(delays=(parse_duration(delay),))


_EXPONENTIAL_KEYS = ("initial", "max", "factor", "jitter")


def parse_backoff(value: object, *, function_id: str) -> Backoff:
    """Read the ``backoff=`` option: ``None`` (the default), a list of durations, or a dict.

    Raises :class:`ConfigError` with ``field="backoff"`` for anything else.
    """
    if value is None:
        return DEFAULT_BACKOFF
    if isinstance(value, Backoff):
        return value

    def fail(message: str) -> ConfigError:
        return ConfigError(message, function_id=function_id, field="backoff")

    if isinstance(value, (list, tuple)):
        if not 1 <= len(value) <= _MAX_SCHEDULE:
            raise fail(f"a backoff list has 1 to {_MAX_SCHEDULE} durations, got {len(value)}")
        delays = []
        for i, item in enumerate(value):
            try:
                delays.append(parse_duration(item))
            except InvalidDurationError as exc:
                raise fail(f"item {i}: {exc.message}") from None
        return ScheduleBackoff(delays=tuple(delays))
    if isinstance(value, Mapping):
        return _exponential(value, fail)
    raise fail(
        "expected a list of durations such as ['1s', '10s', '1m'] or an object such as "
        f"{{'initial': '1s', 'max': '10m', 'factor': 2, 'jitter': 0.2}}, "
        f"got {type(value).__name__}"
    )


def _exponential(value: Mapping[Any, Any], fail: Callable[[str], ConfigError]) -> Backoff:
    unknown = sorted(str(key) for key in value if key not in _EXPONENTIAL_KEYS)
    if unknown:
        raise fail(
            f"unknown key(s) {', '.join(map(repr, unknown))}; "
            f"known keys: {', '.join(_EXPONENTIAL_KEYS)}"
        )
    try:
        initial = parse_duration(value.get("initial", "1s"))
        maximum = parse_duration(value.get("max", "2h"))
    except InvalidDurationError as exc:
        raise fail(exc.message) from None
    if maximum < initial:
        raise fail(f"'max' ({maximum}) is shorter than 'initial' ({initial})")
    factor = value.get("factor", 2)
    if not _is_number(factor) or not 1 <= factor <= 100:
        raise fail(f"'factor' must be a number from 1 to 100, got {factor!r}")
    jitter = value.get("jitter", 0)
    if not _is_number(jitter) or not 0 <= jitter <= 1:
        raise fail(f"'jitter' must be a fraction from 0 to 1, got {jitter!r}")
    return ExponentialBackoff(
        initial=initial, maximum=maximum, factor=float(factor), jitter=float(jitter)
    )


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
