"""Replay fixtures as files: read and check them, write them, replay them against your code.

A fixture is a run saved as JSON (SPEC section 4, ``docs/replay.md``): its trigger event(s),
its steps' recorded results and what the run is expected to do. ``durable export`` and the
inspector's export key write them; ``durable replay`` replays them::

    from durable.fixtures import load_fixture, replay_fixture_async

    result = await replay_fixture_async(load_fixture("fixtures/order.json"), functions)
    assert result.ok, result.message

Reading and writing are cheap to import; the replay names load the engine on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._fixture_schema import FixtureProblem, InvalidFixtureError, check_fixture, load_fixture
from ._fixtures import fixture_json, write_fixture

if TYPE_CHECKING:
    from ._replay import replay_fixture_async
    from ._replay_judge import ReplayResult

__all__ = [
    "FixtureProblem",
    "InvalidFixtureError",
    "ReplayResult",
    "check_fixture",
    "fixture_json",
    "load_fixture",
    "replay_fixture_async",
    "write_fixture",
]

#: Where the names that need the engine live (imported on first use).
_LAZY = {"ReplayResult": "._replay_judge", "replay_fixture_async": "._replay"}


def __getattr__(name: str) -> Any:
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError(f"module 'durable.fixtures' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(home, __package__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
