"""Hostile input (issue 7): shared hypothesis settings, strategies, asserts and a live server.

Every test here throws malformed input at one entry point (the HTTP API, ``@app.function``,
the fixture validator, the expression compiler) and checks the quality bar of SPEC section 6:
a clear error naming the problem, the server keeps serving, and nothing is stored.

``HOSTILE`` keeps each property short (the folder runs in seconds); it is applied per test
rather than as a global profile so that other folders' hypothesis tests are not affected.
The ``hostile`` fixture (``tests/hostile/conftest.py``) wraps a live server in :class:`Hostile`.
"""

from __future__ import annotations

import os
import string
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.support.live import TERMINAL, LiveServer, wait_for

#: Examples per property; ``HOSTILE_EXAMPLES=2000 pytest tests/hostile`` digs deeper.
EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "60"))

#: Short runs, no deadline (a live server answers over real HTTP), module-scoped fixtures.
#: On CI (``CI=true``) the examples are derived from each test's name, so a run there is
#: reproducible; locally every run draws new ones and may find something new.
HOSTILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("CI", "").lower() in ("1", "true"),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: For the slow properties (half-megabyte bodies, 100,000-level nesting, reruns).
FEW = settings(HOSTILE, max_examples=max(1, EXAMPLES // 3))

# -- strategies ---------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)

#: Any JSON value (finite floats, strings without lone surrogates), a few levels deep.
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=4)

#: Values of the wrong type for almost any field.
wrong_types = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(json_scalars, max_size=3),
    st.text(max_size=10),
)

#: Lone UTF-16 surrogates as JSON escapes: valid JSON syntax, not text.
surrogate_escapes = st.integers(min_value=0xD800, max_value=0xDFFF).map(lambda c: f"\\u{c:04x}")

#: Byte sequences that are never valid UTF-8.
invalid_utf8 = st.sampled_from(
    [
        b"\xff",
        b"\xfe",
        b"\x80",  # a lone continuation byte
        b"\xc3",  # a truncated two-byte sequence
        b"\xe2\x82",  # a truncated three-byte sequence
        b"\xc0\xaf",  # an overlong '/'
        b"\xed\xa0\x80",  # an encoded surrogate (json.loads would accept it)
        b"\xf4\x90\x80\x80",  # beyond U+10FFFF
    ]
)

identifiers = st.text(string.ascii_letters + "_", min_size=1, max_size=10)


# -- the live server ----------------------------------------------------------------------


class Hostile:
    """A live server with a few runs in stable states, and ways to see its stored data.

    ``completed`` is a completed run of ``chain`` (steps one, two, three); ``sleeping`` a run
    of ``sleeper``, asleep for an hour. (Not a dataclass: hypothesis would print it whole.)
    """

    def __init__(self, server: LiveServer, completed: str, sleeping: str) -> None:
        self.server = server
        self.completed = completed
        self.sleeping = sleeping

    def __repr__(self) -> str:
        return f"<Hostile server at {self.server.url}>"

    @property
    def client(self) -> httpx.Client:
        return self.server.client

    def state(self) -> tuple[int, ...]:
        """Rows changed since the store opened (committed or not), and the row counts."""
        store: Any = self.server.ctx.store

        async def read() -> tuple[int, ...]:
            db = store._db
            counts = db.execute(
                "SELECT (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM runs), "
                "(SELECT COUNT(*) FROM steps), (SELECT COUNT(*) FROM waits)"
            ).fetchone()
            return (db.total_changes, *counts)

        return self.server.call(read)

    def settle(self) -> None:
        """Wait until no run is in flight (so that the store only changes on request)."""

        def quiet() -> bool:
            runs = self.server.get("/api/runs", limit=1000)["runs"]
            return all(run["status"] in TERMINAL or run["run_id"] == self.sleeping for run in runs)

        wait_for(quiet, message="runs to settle")

    def assert_serving(self) -> None:
        """The server still answers."""
        response = self.client.get("/health")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "ok"


def assert_error(response: httpx.Response, *statuses: int) -> tuple[str, str]:
    """``response`` is a 4xx in the API's one error shape; its ``(code, message)``."""
    assert response.status_code in (statuses or range(400, 500)), (
        response.status_code,
        response.text[:500],
    )
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), body
    error = body["error"]
    assert set(error) == {"code", "message"}, error
    code, message = error["code"], error["message"]
    assert isinstance(code, str) and code, error
    assert isinstance(message, str) and message, error
    assert "Traceback" not in message
    return code, message


def assert_rejected(
    hostile: Hostile, response: httpx.Response, before: tuple[int, ...], *statuses: int
) -> tuple[str, str]:
    """A 4xx in the error shape; nothing stored; the server still serves."""
    code, message = assert_error(response, *statuses)
    assert hostile.state() == before, "a rejected request changed the store"
    hostile.assert_serving()
    return code, message
