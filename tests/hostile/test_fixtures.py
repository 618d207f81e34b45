"""Hostile fixtures: random JSON to the validator, broken files to the loader. A fixture is
valid or an :class:`InvalidFixtureError` naming the file and the field (or the line); never
another exception."""

from __future__ import annotations

import copy
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from durable._replay.fixture_schema import (
    InvalidFixtureError,
    check_fixture,
    load_fixture,
    parse_fixture,
    validate_fixture,
)
from tests.support.hostile import HOSTILE, invalid_utf8, json_objects, json_values

VALID: dict[str, Any] = {
    "function": "process-order",
    "event": {"name": "order/created", "data": {"orderId": "o1"}, "ts": 1_700_000_000_000},
    "steps": {
        "charge": {"kind": "run", "output": {"id": "ch_1"}},
        "pause": {"kind": "sleep", "output": None},
        "notify": {"kind": "run", "error": {"name": "Error", "message": "smtp down"}},
    },
    "later_events": [{"after": "1h", "event": {"name": "order/cancelled"}}],
    "expect": {
        "status": "completed",
        "output": {"ok": True},
        "steps": ["charge", "pause", "notify"],
    },
}

#: Where a mutation lands: (path to the parent, key), as the validator names it.
FIELDS = [
    ((), "function"),
    ((), "event"),
    (("event",), "name"),
    (("event",), "data"),
    (("event",), "ts"),
    ((), "steps"),
    (("steps",), "charge"),
    (("steps", "charge"), "kind"),
    (("steps", "notify"), "error"),
    (("steps", "notify", "error"), "message"),
    ((), "later_events"),
    (("later_events", 0), "after"),
    (("later_events", 0), "event"),
    ((), "expect"),
    (("expect",), "status"),
    (("expect",), "steps"),
]


def dotted(parent: tuple[Any, ...], key: str) -> str:
    path = ""
    for part in (*parent, key):
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="hostile-fixtures-") as name:
        yield Path(name)


def write(folder: Path, data: bytes) -> Path:
    fd, name = tempfile.mkstemp(suffix=".json", dir=folder)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    return Path(name)


def test_the_valid_fixture_is_valid() -> None:
    assert check_fixture(VALID) == []


@HOSTILE
@given(data=json_values | json_objects)
@example(data=None)
@example(data={"function": "f", "event": {"name": "a", "ts": 10**30}, "steps": {}})
@example(data={"0\n": None})  # a field name ending in a newline is quoted, on one line
def test_random_json(data: Any) -> None:
    """Anything parsed from JSON: a list of problems, each with its field, or valid."""
    problems = check_fixture(data)
    try:
        validate_fixture(data, file="random.json")
    except InvalidFixtureError as exc:
        assert problems and exc.file == "random.json"
        assert all(line.startswith("random.json: ") for line in str(exc).splitlines())
    else:
        assert problems == []


@HOSTILE
@given(field=st.sampled_from(FIELDS), value=json_values, drop=st.booleans())
@example(field=(("event",), "ts"), value=10**30, drop=False)  # accepted before
@example(field=(("later_events", 0), "after"), value=10**30, drop=False)
@example(field=(("later_events", 0), "after"), value=True, drop=False)
@example(field=(("steps", "charge"), "kind"), value=[], drop=False)
def test_one_bad_field_is_named(field: tuple[tuple[Any, ...], str], value: Any, drop: bool) -> None:
    """Break one field of a valid fixture (replace or remove it): the fixture is still valid,
    or the error names that field (or the field that now disagrees with it)."""
    parent_path, key = field
    data = copy.deepcopy(VALID)
    parent: Any = data
    for part in parent_path:
        parent = parent[part]
    if drop:
        del parent[key]
    else:
        parent[key] = value
    try:
        validate_fixture(data, file="broken.json")
    except InvalidFixtureError as exc:
        path = dotted(parent_path, key)
        named = [problem.split(":")[0] for problem in exc.problems]
        related = {path, *(p for p in named if p.startswith(path) or path.startswith(p))}
        # dropping or renaming a step also shows up in expect.steps, and vice versa
        assert related & set(named) or {"expect.steps", "steps"} & {p.split(".")[0] for p in named}
        assert "broken.json" in str(exc)


@HOSTILE
@given(
    bad=invalid_utf8,
    line=st.integers(min_value=0, max_value=30),
)
def test_invalid_utf8_names_file_and_line(folder: Path, bad: bytes, line: int) -> None:
    lines = json.dumps(VALID, indent=2).encode().split(b"\n")
    line = min(line, len(lines) - 1)
    lines[line] = lines[line][:4] + bad + lines[line][4:]
    path = write(folder, b"\n".join(lines))
    with pytest.raises(InvalidFixtureError) as caught:
        load_fixture(path)
    message = str(caught.value)
    assert str(path) in message and f"line {line + 1}" in message and "UTF-8" in message


@HOSTILE
@given(cut=st.integers(min_value=0, max_value=10_000))
def test_broken_json_names_file_and_line(folder: Path, cut: int) -> None:
    text = json.dumps(VALID, indent=2)
    cut = min(cut, len(text) - 1)
    path = write(folder, text[:cut].encode())
    with pytest.raises(InvalidFixtureError) as caught:
        load_fixture(path)
    message = str(caught.value)
    assert str(path) in message and "invalid JSON" in message
    assert f"line {text[:cut].count(chr(10)) + 1}" in message


@HOSTILE
@given(data=st.binary(max_size=200))
@example(data=b"[" * 100_000)  # was a RecursionError
@example(data=b'{"function": ' + b"9" * 5_000 + b"}")  # was a bare ValueError
@example(data=b"\xef\xbb\xbf{}")  # a UTF-8 byte order mark
@example(data=b"")
def test_random_files(folder: Path, data: bytes) -> None:
    path = write(folder, data)
    try:
        load_fixture(path)
    except InvalidFixtureError as exc:
        assert str(path) in str(exc)


@HOSTILE
@given(depth=st.integers(min_value=10_000, max_value=100_000), opener=st.sampled_from("[{"))
def test_deeply_nested_fixture(depth: int, opener: str) -> None:
    text = ('{"a":' * depth + "1" + "}" * depth) if opener == "{" else "[" * depth + "]" * depth
    with pytest.raises(InvalidFixtureError, match="nested too deeply"):
        parse_fixture(text, file="deep.json")


def test_unreadable_paths(folder: Path) -> None:
    for path in (folder / "missing.json", folder):
        with pytest.raises(InvalidFixtureError, match="cannot read"):
            load_fixture(path)
