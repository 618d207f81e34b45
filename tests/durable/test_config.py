"""``Durable(id=...)`` and ``@app.function(...)``: every option of SPEC section 1, valid and bad."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from durable import (
    ConfigError,
    CronError,
    DuplicateFunctionError,
    Durable,
    DurableFunction,
    ExpressionError,
    UnknownFunctionError,
)
from durable._define.backoff import DEFAULT_BACKOFF, ExponentialBackoff, ScheduleBackoff
from durable._define.config import FunctionConfig, parse_function_config
from durable._define.triggers import CronTrigger, EventTrigger

FID = "fn"
TRIGGER = [{"event": "order/created"}]


async def handler(ctx: Any) -> str:
    return "ok"


def declare(app: Durable | None = None, **options: Any) -> DurableFunction:
    app = app or Durable(id="shop")
    options.setdefault("id", FID)
    options.setdefault("triggers", TRIGGER)
    return app.function(**options)(handler)


def config_of(**options: Any) -> FunctionConfig:
    return declare(**options).config


def expect_error(kind: type[ConfigError], field: str, **options: Any) -> ConfigError:
    """Declare a function with ``options``; check the error names the function and option."""
    with pytest.raises(ConfigError) as info:
        declare(**options)
    error = info.value
    assert type(error) is kind, f"{type(error).__name__}: {error}"
    assert error.function_id == FID
    assert error.field == field
    message = str(error)
    assert f"function {FID!r}" in message
    assert f"option {field!r}" in message
    assert error.to_dict()["function_id"] == FID
    assert error.to_dict()["field"] == field
    return error


# --------------------------------------------------------------------------- the app


def test_app_id_and_default_logger() -> None:
    app = Durable(id="shop")
    assert app.id == "shop"
    assert app.logger is logging.getLogger("durable")
    assert app.functions == {}


def test_app_takes_a_logger() -> None:
    logger = logging.getLogger("tests.durable.config")
    assert Durable(id="shop", logger=logger).logger is logger


@pytest.mark.parametrize("bad", ["", "   ", 3, None])
def test_bad_app_id(bad: Any) -> None:
    with pytest.raises(ConfigError) as info:
        Durable(id=bad)
    assert info.value.field == "id"
    assert repr(bad) in str(info.value)


# --------------------------------------------------------------------------- registration


def test_registration() -> None:
    app = Durable(id="shop")
    fn = declare(app)
    assert isinstance(fn, DurableFunction)
    assert fn.id == FID
    assert fn.handler is handler
    assert fn.app is app
    assert app.functions == {FID: fn}
    assert app.get_function(FID) is fn
    with pytest.raises(UnknownFunctionError) as info:
        app.get_function("nope")
    assert info.value.function_id == "nope"


def test_defaults() -> None:
    config = config_of()
    assert config.id == FID
    assert config.name == FID
    assert config.retries == 4
    assert config.backoff == DEFAULT_BACKOFF
    assert config.concurrency == ()
    assert config.idempotency is None
    assert config.cancel_on == ()
    assert config.start_timeout is None and config.finish_timeout is None
    assert config.checkpointing is True and config.max_runtime is None


def test_config_is_frozen() -> None:
    config = config_of()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.retries = 9  # type: ignore[misc]


def test_name_option() -> None:
    assert config_of(name="Process an order").name == "Process an order"


@pytest.mark.parametrize("retries", [0, 1, 4, 20])
def test_retries_accepted(retries: int) -> None:
    assert config_of(retries=retries).retries == retries


def test_backoff_list() -> None:
    backoff = config_of(backoff=["100ms", "1s", 10]).backoff
    assert backoff == ScheduleBackoff(
        delays=(timedelta(milliseconds=100), timedelta(seconds=1), timedelta(seconds=10))
    )


def test_backoff_dict() -> None:
    backoff = config_of(backoff={"initial": "1s", "max": "10m", "factor": 2, "jitter": 0.2}).backoff
    assert backoff == ExponentialBackoff(
        initial=timedelta(seconds=1), maximum=timedelta(minutes=10), factor=2.0, jitter=0.2
    )


def test_concurrency_int() -> None:
    (rule,) = config_of(concurrency=10).concurrency
    assert rule.limit == 10 and rule.key is None


def test_concurrency_dict() -> None:
    (rule,) = config_of(concurrency={"limit": 1, "key": "event.data.userId"}).concurrency
    assert rule.limit == 1
    assert rule.key is not None and rule.key.source == "event.data.userId"


def test_concurrency_list_of_two() -> None:
    rules = config_of(concurrency=[{"limit": 1, "key": "event.data.userId"}, 10]).concurrency
    assert [(r.limit, r.key.source if r.key else None) for r in rules] == [
        (1, "event.data.userId"),
        (10, None),
    ]


def test_idempotency() -> None:
    expression = config_of(idempotency="event.data.cartId").idempotency
    assert expression is not None
    assert expression.source == "event.data.cartId"
    assert expression.key({"event": {"data": {"cartId": "c-1"}}}) == "c-1"


def test_cancel_on() -> None:
    (rule,) = config_of(
        cancel_on=[
            {
                "event": "order/cancelled",
                "if": "event.data.orderId == async.data.orderId",
                "timeout": "1h",
            }
        ]
    ).cancel_on
    assert rule.event == "order/cancelled"
    assert rule.if_ is not None
    assert rule.if_.source == "event.data.orderId == async.data.orderId"
    assert rule.timeout == timedelta(hours=1)


def test_cancel_on_single_rule_without_if() -> None:
    (rule,) = config_of(cancel_on={"event": "order/cancelled"}).cancel_on
    assert (rule.event, rule.if_, rule.timeout) == ("order/cancelled", None, None)


@pytest.mark.parametrize(
    ("timeouts", "start", "finish"),
    [
        ({"start": "5m", "finish": "30m"}, timedelta(minutes=5), timedelta(minutes=30)),
        ({"start": "5m"}, timedelta(minutes=5), None),
        ({"finish": timedelta(hours=1)}, None, timedelta(hours=1)),
    ],
)
def test_timeouts(
    timeouts: dict[str, Any], start: timedelta | None, finish: timedelta | None
) -> None:
    config = config_of(timeouts=timeouts)
    assert (config.start_timeout, config.finish_timeout) == (start, finish)


@pytest.mark.parametrize(
    ("checkpointing", "enabled", "max_runtime"),
    [
        (True, True, None),
        (False, False, None),
        ({"max_runtime": "50s"}, True, timedelta(seconds=50)),
    ],
)
def test_checkpointing(checkpointing: Any, enabled: bool, max_runtime: timedelta | None) -> None:
    config = config_of(checkpointing=checkpointing)
    assert (config.checkpointing, config.max_runtime) == (enabled, max_runtime)


def test_triggers_of_every_kind() -> None:
    config = config_of(
        triggers=[
            {"event": "order/created"},
            {
                "event": "user/action",
                "if": 'event.data.action == "purchase" && event.data.amount > 100',
            },
            {"event": "order/*"},
            {"event": "app/user.*"},
            {"cron": "TZ=Europe/Paris 0 12 * * 5"},
        ]
    )
    events = config.event_triggers
    assert [t.event for t in events] == ["order/created", "user/action", "order/*", "app/user.*"]
    assert events[0].if_ is None
    condition = events[1].if_
    assert condition is not None
    assert condition.matches({"event": {"data": {"action": "purchase", "amount": 150}}})
    assert not condition.matches({"event": {"data": {"action": "purchase", "amount": 50}}})
    assert events[2].matches({"name": "order/shipped", "data": {}})
    assert not events[2].matches({"name": "orders/shipped", "data": {}})
    (cron,) = config.cron_triggers
    assert isinstance(cron, CronTrigger)
    assert cron.cron == "TZ=Europe/Paris 0 12 * * 5"
    assert cron.schedule.timezone == "Europe/Paris"
    assert cron.schedule.fields == "0 12 * * 5"


def test_a_single_trigger_mapping_is_accepted() -> None:
    assert config_of(triggers={"event": "a/b"}).triggers == (EventTrigger(event="a/b"),)


def test_ten_triggers_are_accepted() -> None:
    triggers = [{"event": f"e/{i}"} for i in range(10)]
    assert len(config_of(triggers=triggers).triggers) == 10


# --------------------------------------------------------------------------- bad input


def test_bad_expression_names_its_position() -> None:
    error = expect_error(ExpressionError, "idempotency", idempotency="event.data.")
    assert isinstance(error, ExpressionError)
    assert (error.line, error.column) == (1, 12)
    assert error.position == (1, 12)
    assert error.expression == "event.data."
    assert "line 1, column 12" in str(error)


def test_bad_multiline_condition_names_its_line() -> None:
    error = expect_error(
        ExpressionError,
        "triggers[1].if",
        triggers=[{"event": "a/b"}, {"event": "a/c", "if": "\n  event.data.x == = 1"}],
    )
    assert isinstance(error, ExpressionError)
    assert error.line == 2
    assert "line 2" in str(error)


def test_non_boolean_trigger_condition() -> None:
    expect_error(ExpressionError, "triggers[0].if", triggers=[{"event": "a/b", "if": "'a' + 'b'"}])


@pytest.mark.parametrize(
    ("concurrency", "field"),
    [
        ({"limit": 1, "key": "event.data.("}, "concurrency.key"),
        ([5, {"limit": 1, "key": "event.data.("}], "concurrency[1].key"),
    ],
)
def test_bad_concurrency_key(concurrency: Any, field: str) -> None:
    expect_error(ExpressionError, field, concurrency=concurrency)


def test_bad_cancel_on_condition() -> None:
    expect_error(
        ExpressionError, "cancel_on[0].if", cancel_on=[{"event": "a/x", "if": "event.data.x =="}]
    )


def test_non_boolean_cancel_on_condition_is_rejected() -> None:
    """Like trigger conditions, a cancel_on condition that can never be true is an error."""
    expect_error(
        ExpressionError, "cancel_on[0].if", cancel_on=[{"event": "a/x", "if": "'a' + 'b'"}]
    )


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [
        ("idempotency", "async.data.cartId", "idempotency"),
        ("concurrency", {"limit": 1, "key": "async.data.userId"}, "concurrency.key"),
    ],
)
def test_expressions_of_the_trigger_event_reject_async(option: str, value: Any, field: str) -> None:
    """Idempotency and concurrency keys only see ``event``; ``async`` would always be empty,
    silently turning the option off."""
    error = expect_error(ExpressionError, field, **{option: value})
    assert "async" in str(error)


@pytest.mark.parametrize(
    "cron",
    ["61 * * * *", "0 12 * *", "TZ=Mars/Olympus 0 12 * * 5", "TZ= 0 12 * * 5", "@sometimes", ""],
)
def test_bad_cron(cron: str) -> None:
    error = expect_error(CronError, "triggers[0]", triggers=[{"cron": cron}])
    assert isinstance(error, CronError)
    assert error.expression == cron
    assert repr(cron) in str(error)


def test_duplicate_function_id() -> None:
    app = Durable(id="shop")
    first = declare(app)
    with pytest.raises(DuplicateFunctionError) as info:
        declare(app)
    assert info.value.function_id == FID
    assert info.value.field == "id"
    assert FID in str(info.value)
    assert app.functions == {FID: first}


def test_duplicate_id_across_apps_is_fine() -> None:
    declare(Durable(id="a"))
    declare(Durable(id="b"))


@pytest.mark.parametrize("count", [0, 11])
def test_trigger_count(count: int) -> None:
    error = expect_error(
        ConfigError, "triggers", triggers=[{"event": f"e/{i}"} for i in range(count)]
    )
    assert str(count) in str(error)


@pytest.mark.parametrize(
    ("triggers", "field"),
    [
        ("order/created", "triggers"),
        (None, "triggers"),
        ([{"event": "a/b", "cron": "@daily"}], "triggers[0]"),
        ([{"event": "a/b", "when": "x"}], "triggers[0]"),
        ([{"cron": "@daily", "if": "true"}], "triggers[0]"),
        ([{"name": "a/b"}], "triggers[0]"),
        ([{"event": "a/b"}, "a/c"], "triggers[1]"),
        ([{"event": "*"}], "triggers[0]"),
        ([{"event": "ord*er"}], "triggers[0]"),
        ([{"event": ""}], "triggers[0]"),
    ],
)
def test_bad_triggers(triggers: Any, field: str) -> None:
    expect_error(ConfigError, field, triggers=triggers)


def test_unknown_option() -> None:
    error = expect_error(ConfigError, "retires", retires=3)
    assert "retries" in str(error)  # the known options are listed


@pytest.mark.parametrize("retries", [-1, 21, True, False, 2.0, "3", None])
def test_bad_retries(retries: Any) -> None:
    expect_error(ConfigError, "retries", retries=retries)


@pytest.mark.parametrize(
    "concurrency",
    [0, -1, True, "3", {"limit": 0}, {"limit": True}, {"key": "event.data.x"}, [1, 2, 3]],
)
def test_bad_concurrency(concurrency: Any) -> None:
    expect_error(ConfigError, "concurrency", concurrency=concurrency)


def test_bad_concurrency_rule_in_list() -> None:
    expect_error(ConfigError, "concurrency[1]", concurrency=[1, {"limit": 2, "keys": "x"}])


@pytest.mark.parametrize(
    ("timeouts", "field"),
    [
        ("5m", "timeouts"),
        ({"begin": "5m"}, "timeouts"),
        ({"start": "5 minutes"}, "timeouts.start"),
        ({"start": "5m", "finish": -1}, "timeouts.finish"),
        ({"finish": True}, "timeouts.finish"),
    ],
)
def test_bad_timeouts(timeouts: Any, field: str) -> None:
    expect_error(ConfigError, field, timeouts=timeouts)


@pytest.mark.parametrize(
    ("checkpointing", "field"),
    [
        ("yes", "checkpointing"),
        (1, "checkpointing"),
        ({"max": "50s"}, "checkpointing"),
        ({"max_runtime": "soon"}, "checkpointing.max_runtime"),
    ],
)
def test_bad_checkpointing(checkpointing: Any, field: str) -> None:
    expect_error(ConfigError, field, checkpointing=checkpointing)


@pytest.mark.parametrize(
    ("cancel_on", "field"),
    [
        ("order/cancelled", "cancel_on"),
        (["order/cancelled"], "cancel_on[0]"),
        ([{"event": "order/*"}], "cancel_on[0].event"),
        ([{"event": "a/b", "unless": "true"}], "cancel_on[0]"),
        ([{"event": "a/b"}, {"event": "a/c", "timeout": "later"}], "cancel_on[1].timeout"),
    ],
)
def test_bad_cancel_on(cancel_on: Any, field: str) -> None:
    expect_error(ConfigError, field, cancel_on=cancel_on)


@pytest.mark.parametrize(
    "backoff", [[], ["1s", "bad"], "1s", {"initial": "1m", "max": "1s"}, {"factor": 0.5}]
)
def test_bad_backoff(backoff: Any) -> None:
    expect_error(ConfigError, "backoff", backoff=backoff)


def test_bad_name() -> None:
    expect_error(ConfigError, "name", name=3)


@pytest.mark.parametrize(
    "make",
    [
        lambda: lambda ctx: None,
        lambda: print,
    ],
)
def test_handler_must_be_async(make: Callable[[], Any]) -> None:
    app = Durable(id="shop")
    decorate = app.function(id=FID, triggers=TRIGGER)
    with pytest.raises(ConfigError) as info:
        decorate(make())
    assert info.value.function_id == FID
    assert "async def" in str(info.value)
    assert FID in str(info.value)
    assert app.functions == {}


def test_sync_def_handler_is_rejected() -> None:
    app = Durable(id="shop")

    def sync_handler(ctx: Any) -> None:
        return None

    with pytest.raises(ConfigError, match="async def"):
        app.function(id=FID, triggers=TRIGGER)(sync_handler)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad_id", ["", "bad id!", "-leading-dash", "x" * 129, "é", 3, None])
def test_bad_function_id(bad_id: Any) -> None:
    with pytest.raises(ConfigError) as info:
        declare(id=bad_id)
    assert info.value.field == "id"
    assert repr(bad_id) in str(info.value)


@pytest.mark.parametrize("good_id", ["a", "process-order", "billing/charge.v2:eu_1", "x" * 128])
def test_good_function_ids(good_id: str) -> None:
    assert config_of(id=good_id).id == good_id


def test_config_errors_are_value_errors() -> None:
    with pytest.raises(ValueError):
        declare(retries=-1)


# --------------------------------------------------------------------------- round trip


FULL_OPTIONS: dict[str, Any] = {
    "id": "process-order",
    "name": "Process order",
    "triggers": [
        {"event": "order/created"},
        {
            "event": "user/action",
            "if": 'event.data.action == "purchase" && event.data.amount > 100',
        },
        {"event": "order/*"},
        {"cron": "TZ=Europe/Paris 0 12 * * 5"},
    ],
    "retries": 7,
    "backoff": {"initial": "1s", "max": "10m", "factor": 3, "jitter": 0.2},
    "concurrency": [{"limit": 1, "key": "event.data.userId"}, 10],
    "idempotency": "event.data.cartId",
    "cancel_on": [
        {
            "event": "order/cancelled",
            "if": "event.data.orderId == async.data.orderId",
            "timeout": "1h",
        }
    ],
    "timeouts": {"start": "5m", "finish": "30m"},
    "checkpointing": {"max_runtime": "50s"},
}


def trigger_sources(config: FunctionConfig) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for trigger in config.triggers:
        if isinstance(trigger, CronTrigger):
            out.append(("cron", trigger.cron))
        else:
            out.append((trigger.event, trigger.if_.source if trigger.if_ else None))
    return out


def assert_equivalent(a: FunctionConfig, b: FunctionConfig) -> None:
    assert a == b
    assert trigger_sources(a) == trigger_sources(b)
    assert (a.id, a.name, a.retries, a.backoff) == (b.id, b.name, b.retries, b.backoff)
    assert a.concurrency == b.concurrency
    assert a.cancel_on == b.cancel_on
    assert (a.start_timeout, a.finish_timeout) == (b.start_timeout, b.finish_timeout)
    assert (a.checkpointing, a.max_runtime) == (b.checkpointing, b.max_runtime)


def test_full_config_round_trips_through_to_dict() -> None:
    config = parse_function_config(FULL_OPTIONS)
    again = parse_function_config(config.to_dict())
    assert_equivalent(config, again)
    assert trigger_sources(again) == [
        ("order/created", None),
        ("user/action", 'event.data.action == "purchase" && event.data.amount > 100'),
        ("order/*", None),
        ("cron", "TZ=Europe/Paris 0 12 * * 5"),
    ]
    assert again.retries == 7
    assert again.max_runtime == timedelta(seconds=50)


def test_full_config_round_trips_through_json() -> None:
    config = parse_function_config(FULL_OPTIONS)
    again = parse_function_config(json.loads(json.dumps(config.to_dict())))
    assert_equivalent(config, again)


def test_default_config_round_trips() -> None:
    config = config_of()
    assert_equivalent(config, parse_function_config(config.to_dict()))


def test_round_trip_differs_when_an_option_differs() -> None:
    """The equivalence used above is not vacuous."""
    config = parse_function_config(FULL_OPTIONS)
    changed = parse_function_config({**FULL_OPTIONS, "retries": 6})
    assert config != changed
    changed_trigger = parse_function_config(
        {**FULL_OPTIONS, "triggers": [*FULL_OPTIONS["triggers"][:3], {"cron": "0 12 * * 5"}]}
    )
    assert trigger_sources(config) != trigger_sources(changed_trigger)


def test_to_dict_is_json_ready_when_durations_are_timedeltas() -> None:
    """``to_dict`` promises JSON-ready data (it goes over the wire from a worker), but
    timedelta durations, which every duration option accepts, are kept as timedeltas."""
    config = config_of(
        timeouts={"start": timedelta(minutes=5)},
        cancel_on=[{"event": "a/b", "timeout": timedelta(hours=1)}],
        checkpointing={"max_runtime": timedelta(seconds=50)},
    )
    text = json.dumps(config.to_dict())
    assert_equivalent(config, parse_function_config(json.loads(text)))
