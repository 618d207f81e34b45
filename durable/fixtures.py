"""Replay fixtures as files: read and check them, write them, replay them against your code.

A fixture is a run saved as JSON (SPEC section 4, ``docs/replay.md``): its trigger event(s),
its steps' recorded results and what the run is expected to do. ``durable export`` and the
inspector's export key write them; ``durable replay`` replays them::

    from durable.fixtures import load_fixture, replay_fixture_async

    result = await replay_fixture_async(load_fixture("fixtures/order.json"), functions)
    assert result.ok, result.message

Importing this module is cheap: each name loads its home on use (the replay names load the
engine).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_names

if TYPE_CHECKING:
    from ._replay.fixture_schema import (
        FixtureProblem,
        InvalidFixtureError,
        check_fixture,
        load_fixture,
    )
    from ._replay.fixtures import fixture_json, write_fixture
    from ._replay.judge import ReplayResult
    from ._replay.replay import replay_fixture_async

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

#: Where each name lives.
_HOMES = {
    "FixtureProblem": "._replay.fixture_schema",
    "InvalidFixtureError": "._replay.fixture_schema",
    "check_fixture": "._replay.fixture_schema",
    "load_fixture": "._replay.fixture_schema",
    "fixture_json": "._replay.fixtures",
    "write_fixture": "._replay.fixtures",
    "ReplayResult": "._replay.judge",
    "replay_fixture_async": "._replay.replay",
}


# Not cached here: a name follows its home module (a test may patch it there).
__getattr__, __dir__ = lazy_names(__name__, _HOMES, __all__, globals(), cache=False)
