"""The exported names of ``durable`` and ``durable.testing`` are a contract: pin them."""

from __future__ import annotations

import importlib
import inspect

import pytest

import durable
import durable.testing

EXPORTED = [
    "ConfigError",
    "Context",
    "CronError",
    "DuplicateFunctionError",
    "Durable",
    "DurableError",
    "DurableFunction",
    "Event",
    "EventTooLargeError",
    "ExpressionError",
    "InvalidDurationError",
    "InvalidEventError",
    "InvalidInstantError",
    "LimitExceededError",
    "NonDeterminismError",
    "NonRetriableError",
    "ResultTypeError",
    "RetryAfterError",
    "SendError",
    "SerializationError",
    "Step",
    "StepError",
    "UnknownFunctionError",
    "__version__",
]

TESTING_EXPORTED = ["Run", "Step", "TestEngine", "replay_fixture"]


def test_durable_all_is_pinned() -> None:
    assert durable.__all__ == EXPORTED


def test_durable_all_is_sorted_and_unique() -> None:
    assert sorted(set(durable.__all__)) == durable.__all__


def test_testing_all_is_pinned() -> None:
    assert durable.testing.__all__ == TESTING_EXPORTED


@pytest.mark.parametrize(
    ("module_name", "names"), [("durable", EXPORTED), ("durable.testing", TESTING_EXPORTED)]
)
def test_every_exported_name_is_importable(module_name: str, names: list[str]) -> None:
    module = importlib.import_module(module_name)
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import *", namespace)
    for name in names:
        assert hasattr(module, name), name
        assert namespace[name] is getattr(module, name)


def test_version_is_a_string() -> None:
    assert isinstance(durable.__version__, str)
    assert durable.__version__.count(".") >= 2


def public_objects() -> list[tuple[str, object]]:
    objects = [(f"durable.{n}", getattr(durable, n)) for n in durable.__all__]
    objects += [(f"durable.testing.{n}", getattr(durable.testing, n)) for n in TESTING_EXPORTED]
    return [(name, obj) for name, obj in objects if inspect.isclass(obj) or callable(obj)]


@pytest.mark.parametrize(("name", "obj"), public_objects(), ids=lambda v: str(v))
def test_public_objects_have_their_own_docstring(name: str, obj: object) -> None:
    # A class's own docstring: inspect.getdoc would inherit the base class's.
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
    assert isinstance(doc, str) and doc.strip(), f"{name} has no docstring"


@pytest.mark.parametrize(
    ("name", "cls"),
    [(n, o) for n, o in public_objects() if inspect.isclass(o)],
    ids=lambda v: str(v),
)
def test_public_methods_have_docstrings(name: str, cls: type) -> None:
    missing = []
    for attr, value in vars(cls).items():
        if attr.startswith("_"):
            continue
        target = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
        is_member = isinstance(value, property) or inspect.isfunction(target)
        if is_member and not (getattr(target, "__doc__", None) or "").strip():
            missing.append(attr)
    assert missing == [], f"{name}: public members without a docstring: {missing}"


def test_package_docstring() -> None:
    assert durable.__doc__ and "durable" in durable.__doc__
    assert durable.testing.__doc__ and "TestEngine" in durable.testing.__doc__
