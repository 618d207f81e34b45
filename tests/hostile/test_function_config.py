"""Hostile options to ``@app.function(...)``: every bad definition raises the project's
:class:`ConfigError` (or a subclass) naming the function id and the option, at decoration
time; never a bare TypeError/KeyError/ValueError from deep inside. Valid definitions are
accepted and their config survives the wire (``to_dict`` -> ``parse_function_config``)."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from durable import Context, Durable
from durable._define.config import KNOWN_OPTIONS, parse_function_config
from durable._errors import ConfigError, CronError, ExpressionError
from tests.support.hostile import HOSTILE, identifiers, json_values, wrong_types

FUNCTION_ID = "hostile-fn"
#: SPEC's function id, written out independently of durable._define.config.
VALID_ID = r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}"


async def handler(ctx: Context) -> None:
    return None


def define(options: dict[str, Any]) -> Any:
    """``@app.function(id=FUNCTION_ID, **options)`` on a fresh app."""
    options = {"id": FUNCTION_ID, "triggers": [{"event": "hostile/x"}], **options}
    return Durable(id="hostile").function(**options)(handler)


def assert_config_error(exc: BaseException, *fields: str) -> ConfigError:
    """``exc`` is a ConfigError naming the function and one of ``fields`` (as a prefix)."""
    assert isinstance(exc, ConfigError), f"{type(exc).__name__}: {exc}"
    assert exc.function_id == FUNCTION_ID
    assert repr(FUNCTION_ID) in str(exc)
    if fields:
        assert exc.field is not None and exc.field.startswith(fields), (exc.field, fields)
        assert repr(exc.field) in str(exc)
    return exc


def defined_or_error(options: dict[str, Any], *fields: str) -> ConfigError | None:
    try:
        fn = define(options)
    except Exception as exc:
        return assert_config_error(exc, *fields)
    # accepted: the config is what a worker sends the server, and reads back the same
    again = parse_function_config(fn.config.to_dict())
    assert again == fn.config
    return None


#: Python values beyond JSON that a user might pass by mistake.
odd_values = st.one_of(
    st.just(float("nan")),
    st.just(math.inf),
    st.just(-math.inf),
    st.sets(st.integers(), max_size=2),
    st.tuples(st.integers()),
    st.builds(object),
    st.just(b"bytes"),
    st.timedeltas(min_value=timedelta(days=-2), max_value=timedelta(days=2)),
    st.just(handler),
)
anything = json_values | wrong_types | odd_values

durations = st.one_of(
    st.sampled_from(["250ms", "30s", "5m", "1h30m", "1d", "0s", "1.5h", "1m 30s"]),
    st.text(max_size=8),
    st.integers(min_value=-10, max_value=10**20),
    st.floats(),
    st.timedeltas(min_value=timedelta(days=-2), max_value=timedelta(days=2)),
    wrong_types,
)
expressions = st.one_of(
    st.sampled_from(
        [
            "event.data.userId",
            'event.data.action == "purchase" && event.data.amount > 100',
            "event.data.",
            "event.data.x ==",
            "undefined_var.x",
            "size(event.data) > 1",
            "event.data.x.nope()",
            '"a" + "b"',
            "(" * 40 + "1" + ")" * 40,
            "event.data.x == '\ud800'",
        ]
    ),
    st.text(max_size=30),
    wrong_types,
)
crons = st.one_of(
    st.sampled_from(
        [
            "0 12 * * 5",
            "TZ=Europe/Paris 0 12 * * 5",
            "TZ=Nowhere/City * * * * *",
            "* * 31 2 *",
            "61 * * * *",
            "*/0 * * * *",
            "@daily",
            "@reboot",
            "* * * *",
            "",
        ]
    ),
    st.lists(st.sampled_from(["*", "0", "1-5", "*/2", "61", "L", "?", "MON", "x"]), max_size=7).map(
        " ".join
    ),
    st.text(max_size=20),
    wrong_types,
)
triggers_one = st.one_of(
    st.fixed_dictionaries({"event": st.text(max_size=15) | wrong_types}),
    st.fixed_dictionaries({"event": st.just("hostile/x"), "if": expressions}),
    st.fixed_dictionaries({"cron": crons}),
    st.dictionaries(st.sampled_from(["event", "cron", "if", "when"]), anything, max_size=3),
    anything,
)
concurrency = st.one_of(
    st.integers(min_value=-2, max_value=20),
    st.fixed_dictionaries(
        {},
        optional={"limit": st.integers(-1, 5) | wrong_types, "key": expressions, "scope": anything},
    ),
    st.lists(
        st.integers(-1, 5)
        | st.fixed_dictionaries({"limit": st.integers(-1, 5), "key": expressions}),
        max_size=4,
    ),
    anything,
)
cancel_on = st.one_of(
    st.lists(
        st.fixed_dictionaries(
            {"event": st.sampled_from(["hostile/stop", "hostile/*", "", " x"]) | wrong_types},
            optional={"if": expressions, "timeout": durations, "when": anything},
        ),
        max_size=3,
    ),
    anything,
)
backoff = st.one_of(
    st.lists(durations, max_size=4),
    st.fixed_dictionaries(
        {},
        optional={
            "initial": durations,
            "max": durations,
            "factor": st.floats() | st.integers(-5, 200) | wrong_types,
            "jitter": st.floats() | wrong_types,
            "base": anything,
        },
    ),
    anything,
)
OPTIONS = {
    "name": st.text(max_size=10) | wrong_types,
    "retries": st.integers(min_value=-3, max_value=30) | anything,
    "backoff": backoff,
    "concurrency": concurrency,
    "idempotency": expressions,
    "cancel_on": cancel_on,
    "timeouts": st.fixed_dictionaries({}, optional={"start": durations, "finish": durations})
    | st.dictionaries(st.text(max_size=6), durations, max_size=2)
    | anything,
    "checkpointing": st.booleans() | st.fixed_dictionaries({"max_runtime": durations}) | anything,
}


@HOSTILE
@given(
    options=st.fixed_dictionaries(
        {"triggers": st.lists(triggers_one, min_size=1, max_size=3) | triggers_one},
        optional=OPTIONS,
    )
)
@example(options={"triggers": [{"event": "a", "if": "event.data.x == '\ud800'"}]})  # TypeError
@example(options={"triggers": [{"event": "a"}], "idempotency": "(" * 40 + "1" + ")" * 40})
@example(options={"triggers": [{"cron": "0-59/99999999999999999999 * * * *"}]})
@example(options={"triggers": [{"event": "a"}], "retries": float("nan")})
@example(options={"triggers": [{"event": "a"}], "timeouts": {"start": 1e300}})
def test_random_options(options: dict[str, Any]) -> None:
    """Any mix of right and wrong options: defined, or one ConfigError naming the option."""
    defined_or_error(options, "triggers", *OPTIONS, "concurrency", "cancel_on", "timeouts")


@HOSTILE
@given(
    name=identifiers.filter(lambda n: n not in {*KNOWN_OPTIONS, "id", "triggers"}), value=anything
)
@example(name="retry", value=3)
@example(name="cancelOn", value=[])
def test_unknown_options(name: str, value: Any) -> None:
    error = defined_or_error({name: value}, name)
    assert error is not None and "unknown option" in str(error)


@HOSTILE
@given(function_id=st.from_regex(VALID_ID, fullmatch=True) | st.text(max_size=140) | wrong_types)
@example(function_id="")
@example(function_id="-leading-dash")
@example(function_id="x" * 129)
@example(function_id="has space")
@example(function_id="process-order\n")  # was accepted: '$' matches before a final newline
def test_function_ids(function_id: Any) -> None:
    """An id is 1-128 of letters, digits and . _ : / -: anything else names the bad id."""
    valid = isinstance(function_id, str) and re.fullmatch(VALID_ID, function_id) is not None
    app = Durable(id="hostile")
    try:
        fn = app.function(id=function_id, triggers=[{"event": "hostile/x"}])(handler)
    except Exception as exc:
        assert isinstance(exc, ConfigError), f"{type(exc).__name__}: {exc}"
        assert exc.field == "id" and repr(function_id) in str(exc)
        assert not valid
    else:
        assert valid and fn.id == function_id


@HOSTILE
@given(count=st.integers(min_value=11, max_value=40), cron=st.booleans())
def test_more_than_10_triggers(count: int, cron: bool) -> None:
    trigger = {"cron": "0 12 * * 5"} if cron else {"event": "hostile/x"}
    error = defined_or_error({"triggers": [trigger] * count}, "triggers")
    assert error is not None and f"got {count}" in str(error) and "10" in str(error)


@HOSTILE
@given(triggers=st.sampled_from([[], (), {}]) | st.text(max_size=10) | st.integers())
def test_no_triggers(triggers: Any) -> None:
    error = defined_or_error({"triggers": triggers}, "triggers")
    assert error is not None


@HOSTILE
@given(cron=crons)
@example(cron="* * * * \ud800")
def test_crons(cron: Any) -> None:
    error = defined_or_error({"triggers": [{"cron": cron}]}, "triggers[0]")
    if error is not None:
        assert isinstance(error, CronError)
        assert repr(cron)[:20] in str(error) or not isinstance(cron, str)


@HOSTILE
@given(
    where=st.sampled_from(["timeouts.start", "timeouts.finish", "checkpointing.max_runtime"]),
    duration=durations,
)
@example(where="timeouts.start", duration="5 minutes")
@example(where="timeouts.finish", duration=-1)
@example(where="checkpointing.max_runtime", duration=float("inf"))
@example(where="timeouts.start", duration=10**20)
def test_durations(where: str, duration: Any) -> None:
    option, key = where.split(".")
    error = defined_or_error({option: {key: duration}}, where)
    if error is not None:
        assert "duration" in str(error)


@HOSTILE
@given(
    where=st.sampled_from(["idempotency", "concurrency.key", "triggers[0].if", "cancel_on[0].if"]),
    expression=expressions,
)
def test_expressions(where: str, expression: Any) -> None:
    """A bad expression anywhere: an ExpressionError naming the function, the option and
    (for text CEL could read) the position."""
    options: dict[str, Any] = {
        "idempotency": {"idempotency": expression},
        "concurrency.key": {"concurrency": {"limit": 1, "key": expression}},
        "triggers[0].if": {"triggers": [{"event": "hostile/x", "if": expression}]},
        "cancel_on[0].if": {"cancel_on": [{"event": "hostile/stop", "if": expression}]},
    }[where]
    error = defined_or_error(options, where)
    if error is not None and isinstance(error, ExpressionError):
        if isinstance(expression, str) and expression.strip():
            assert error.position is not None or "nested too deeply" in error.detail, error
    elif error is not None:  # only a wrong-typed condition is not an ExpressionError
        assert not isinstance(expression, str), error


@HOSTILE
@given(value=concurrency)
@example(value={"limit": True})
@example(value=[1, 2, 3])
@example(value={"limit": 1, "key": "event.data.", "scope": "fn"})
def test_concurrency_shapes(value: Any) -> None:
    defined_or_error({"concurrency": value}, "concurrency")


valid_durations = st.sampled_from(["250ms", "30s", "5m", "1h30m", "1d", 0, 2.5, timedelta(hours=1)])
valid_options = st.fixed_dictionaries(
    {
        "triggers": st.lists(
            st.sampled_from(
                [
                    {"event": "order/created"},
                    {"event": "order/*"},
                    {"event": "app/user.*", "if": "event.data.amount > 100"},
                    {"cron": "TZ=Europe/Paris 0 12 * * 5"},
                    {"cron": "@hourly"},
                ]
            ),
            min_size=1,
            max_size=10,
        )
    },
    optional={
        "name": st.text(max_size=20),
        "retries": st.integers(min_value=0, max_value=20),
        "backoff": st.lists(valid_durations, min_size=1, max_size=5)
        | st.fixed_dictionaries(
            {"initial": st.just("1s"), "max": st.just("10m")},
            optional={"factor": st.floats(1, 100), "jitter": st.floats(0, 1)},
        ),
        "concurrency": st.integers(min_value=1, max_value=100)
        | st.fixed_dictionaries(
            {"limit": st.integers(1, 5)}, optional={"key": st.just("event.data.userId")}
        )
        | st.lists(st.integers(1, 5), min_size=1, max_size=2),
        "idempotency": st.sampled_from(["event.data.cartId", 'event.data.a + "-" + event.id']),
        "cancel_on": st.lists(
            st.fixed_dictionaries(
                {"event": st.just("order/cancelled")},
                optional={
                    "if": st.just("event.data.id == async.data.id"),
                    "timeout": valid_durations,
                },
            ),
            max_size=2,
        ),
        "timeouts": st.fixed_dictionaries(
            {}, optional={"start": valid_durations, "finish": valid_durations}
        ),
        "checkpointing": st.booleans() | st.fixed_dictionaries({"max_runtime": valid_durations}),
    },
)


@HOSTILE
@given(options=valid_options)
def test_valid_options_are_accepted(options: dict[str, Any]) -> None:
    """The other side of the properties above: SPEC section 1's shapes are all accepted, and
    the config reads back the same from its wire form."""
    assert defined_or_error(options) is None
