"""``docs/fixture.schema.json`` agrees with ``durable/_replay/fixture_schema.py`` (the reference).

``jsonschema`` is not a dependency, so a small checker below covers the keywords the schema
uses (and fails on any other, so the schema cannot drift out of what is checked here).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from durable._replay.fixture_schema import RUN_STATUSES, STEP_KINDS, TOP_FIELDS, check_fixture
from durable._replay.fixtures import fixture_from_run
from durable._stores.base import RunRecord, RunStatus, StepRecord, StepStatus

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "fixture.schema.json").read_text())
EXAMPLES = sorted((ROOT / "examples" / "fixtures").glob("*.json"))

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "null": type(None),
}
_NOTES = {"$schema", "$id", "title", "description", "$defs"}


def _is(value: Any, name: str) -> bool:
    if isinstance(value, bool) and name in ("integer", "number"):
        return False
    return isinstance(value, _TYPES[name])


def errors(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """What is wrong with ``value`` under ``schema`` (a JSON Schema 2020-12 subset)."""
    found: list[str] = []
    for keyword, rule in schema.items():
        if keyword in _NOTES:
            continue
        if keyword == "$ref":
            target: Any = SCHEMA
            for part in rule.removeprefix("#/").split("/"):
                target = target[part]
            found += errors(value, target, path)
        elif keyword == "type":
            names = rule if isinstance(rule, list) else [rule]
            if not any(_is(value, name) for name in names):
                found.append(f"{path}: not {rule}")
        elif keyword == "enum":
            if value not in rule:
                found.append(f"{path}: not one of {rule}")
        elif keyword == "required":
            if isinstance(value, dict):
                found += [f"{path}.{key}: missing" for key in rule if key not in value]
        elif keyword == "properties":
            if isinstance(value, dict):
                for key, sub in rule.items():
                    if key in value:
                        found += errors(value[key], sub, f"{path}.{key}")
        elif keyword == "additionalProperties":
            if isinstance(value, dict):
                known = schema.get("properties", {})
                for key in value:
                    if key in known:
                        continue
                    if rule is False:
                        found.append(f"{path}.{key}: not allowed")
                    elif isinstance(rule, dict):
                        found += errors(value[key], rule, f"{path}.{key}")
        elif keyword == "items":
            if isinstance(value, list):
                for index, item in enumerate(value):
                    found += errors(item, rule, f"{path}[{index}]")
        elif keyword == "minItems":
            if isinstance(value, list) and len(value) < rule:
                found.append(f"{path}: fewer than {rule} items")
        elif keyword == "uniqueItems":
            if isinstance(value, list) and rule and len(set(map(json.dumps, value))) < len(value):
                found.append(f"{path}: items repeat")
        elif keyword == "minLength":
            if isinstance(value, str) and len(value) < rule:
                found.append(f"{path}: shorter than {rule}")
        elif keyword == "pattern":
            if isinstance(value, str) and not re.search(rule, value):
                found.append(f"{path}: does not match {rule}")
        elif keyword == "minimum":
            if _is(value, "number") and value < rule:
                found.append(f"{path}: below {rule}")
        elif keyword == "maximum":
            if _is(value, "number") and value > rule:
                found.append(f"{path}: above {rule}")
        elif keyword == "not":
            if not errors(value, rule, path):
                found.append(f"{path}: matches a forbidden shape")
        elif keyword in ("oneOf", "anyOf"):
            matching = sum(not errors(value, sub, path) for sub in rule)
            if matching == 0 or (keyword == "oneOf" and matching > 1):
                found.append(f"{path}: {keyword} matched {matching} of {len(rule)}")
        else:
            raise AssertionError(f"the schema uses {keyword!r}, which this checker ignores")
    return found


def exported() -> dict[str, Any]:
    """A fixture as ``GET /api/runs/{id}/fixture`` and ``durable export`` produce it."""
    event = {"name": "order/created", "data": {"orderId": "o-1"}, "id": "01EV", "ts": 1_000}
    run = RunRecord("01RUN", "process-order", RunStatus.CANCELLED, event, 1.0, ended_at=3601.0)
    run.cancel_reason = "cancelled by request"
    steps = [
        StepRecord("01RUN", "charge", "charge", "run", StepStatus.COMPLETED, 0, output='{"ok":1}'),
        StepRecord("01RUN", "nap", "nap", "sleep", StepStatus.COMPLETED, 1, output="null"),
        StepRecord(
            "01RUN",
            "mail",
            "mail",
            "run",
            StepStatus.FAILED,
            2,
            error={"name": "SMTPError", "message": "down"},
        ),
    ]
    return fixture_from_run(run, steps)


def test_the_schema_lists_the_fields_of_the_reference_validator() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert sorted(SCHEMA["properties"]) == sorted(TOP_FIELDS)
    assert SCHEMA["required"] == ["function", "steps", "expect"]
    defs = SCHEMA["$defs"]
    assert defs["step"]["properties"]["kind"]["enum"] == list(STEP_KINDS)
    assert SCHEMA["properties"]["expect"]["properties"]["status"]["enum"] == list(RUN_STATUSES)
    with pytest.raises(AssertionError, match="ignores"):
        errors({}, {"if": True})


def test_exported_fixtures_are_valid_for_both() -> None:
    fixture = exported()
    assert fixture["cancel"] == {"after": "1h", "reason": "cancelled by request"}
    assert check_fixture(fixture) == []
    assert errors(fixture, SCHEMA) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_example_fixtures_are_valid_for_both(path: Path) -> None:
    fixture = json.loads(path.read_text())
    assert check_fixture(fixture) == []
    assert errors(fixture, SCHEMA) == []


def _broken(change: str) -> dict[str, Any]:
    fixture = copy.deepcopy(exported())
    if change == "no function":
        del fixture["function"]
    elif change == "event and events":
        fixture["events"] = [fixture["event"]]
    elif change == "no event":
        del fixture["event"]
    elif change == "unknown top field":
        fixture["stepz"] = {}
    elif change == "step with output and error":
        fixture["steps"]["charge"]["error"] = {"name": "E", "message": "m"}
    elif change == "step with neither":
        fixture["steps"]["charge"] = {"kind": "run"}
    elif change == "unknown kind":
        fixture["steps"]["charge"]["kind"] = "task"
    elif change == "bad status":
        fixture["expect"]["status"] = "done"
    elif change == "expect.steps not a list":
        fixture["expect"]["steps"] = "charge"
    elif change == "bad duration":
        fixture["later_events"] = [{"after": "soon", "event": {"name": "x"}}]
    elif change == "bool duration":
        fixture["cancel"]["after"] = True
    elif change == "event without name":
        fixture["event"] = {"data": {}}
    elif change == "negative ts":
        fixture["event"]["ts"] = -1
    elif change == "error not an object":
        fixture["steps"]["mail"]["error"] = "down"
    else:
        raise AssertionError(change)
    return fixture


@pytest.mark.parametrize(
    "change",
    [
        "no function",
        "event and events",
        "no event",
        "unknown top field",
        "step with output and error",
        "step with neither",
        "unknown kind",
        "bad status",
        "expect.steps not a list",
        "bad duration",
        "bool duration",
        "event without name",
        "negative ts",
        "error not an object",
    ],
)
def test_broken_fixtures_are_rejected_by_both(change: str) -> None:
    fixture = _broken(change)
    assert check_fixture(fixture) != []
    assert errors(fixture, SCHEMA) != []
