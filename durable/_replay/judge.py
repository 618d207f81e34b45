"""Judge a replayed run against its fixture: divergence of the step sequence first, then
status and output; explanations and unified diffs for people (``durable replay``)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .._stores.base import TERMINAL_STATUSES
from .local import Run

ResultKind = Literal["pass", "mismatch", "divergence", "invalid"]
StepRef = tuple[str, str | None]  #: (key, kind); kind None when the fixture does not say

#: The error message of a step strict replay refused to run (it is not in the fixture).
REFUSED = "is not in the fixture, so replay did not run it"


@dataclass(slots=True)
class ReplayResult:
    """How one fixture replayed. ``kind``: pass, mismatch, divergence or invalid."""

    name: str
    ok: bool
    kind: ResultKind
    message: str
    expected: list[StepRef] = field(default_factory=list)  #: the recorded step sequence
    actual: list[StepRef] = field(default_factory=list)  #: the code's step sequence
    diff: str = ""  #: unified diff (sequences on divergence, status and output on mismatch)
    first_divergence: str | None = None  #: key of the first diverging step
    expected_status: str | None = None
    actual_status: str | None = None
    updated_fixture: dict[str, Any] | None = None  #: with ``update=True``: expect rewritten
    changes: list[str] = field(default_factory=list)  #: what the update changes
    seconds: float = 0.0  #: wall time of the replay

    def to_json(self) -> dict[str, Any]:
        """One JSON-ready line for ``durable replay --json``."""
        return {
            "fixture": self.name,
            "ok": self.ok,
            "kind": self.kind,
            "message": self.message,
            "first_divergence": self.first_divergence,
            "expected_steps": [{"key": k, "kind": kind} for k, kind in self.expected],
            "actual_steps": [{"key": k, "kind": kind} for k, kind in self.actual],
            "expected_status": self.expected_status,
            "actual_status": self.actual_status,
            "diff": self.diff,
            "changes": self.changes,
            "seconds": round(self.seconds, 6),
        }


# -- judging ----------------------------------------------------------------------------------


def recorded_sequence(fixture: Mapping[str, Any]) -> list[StepRef]:
    """The recording: ``expect.steps`` with the kinds ``steps`` gives them."""
    steps = fixture["steps"]
    return [(key, steps.get(key, {}).get("kind")) for key in fixture["expect"]["steps"]]


def judge(fixture: Mapping[str, Any], run: Run, *, name: str) -> ReplayResult:
    """Compare a replayed run with the fixture's expectations."""
    actual: list[StepRef] = [(step.key, step.kind) for step in run.steps]
    expected = _known_kinds(recorded_sequence(fixture), actual)
    expect = fixture["expect"]
    result = ReplayResult(
        name,
        True,
        "pass",
        "",
        expected=expected,
        actual=actual,
        expected_status=expect["status"],
        actual_status=run.status,
    )
    divergence = first_divergence(expected, actual)
    if divergence is not None:
        index, key, why = divergence
        result.ok, result.kind, result.first_divergence = False, "divergence", key
        result.message = (
            f"{name}: the code's steps diverge from the recording at step #{index + 1} "
            f"{key!r}\n  {why}{_failure_note(run)}\n"
            f"  recorded: {render_sequence(expected)}\n"
            f"  code:     {render_sequence(actual)}"
        )
        result.diff = _unified(_sequence_lines(expected), _sequence_lines(actual), name)
        return result
    problems = []
    if run.status != expect["status"]:
        problems.append(f"status: expected {expect['status']!r}, got {run.status!r}")
    if "output" in expect and not same_json(expect["output"], run.output):
        problems.append("output differs (see the diff)")
    if not problems:
        result.message = f"{name}: ok ({len(actual)} steps, {run.status})"
        return result
    result.ok, result.kind = False, "mismatch"
    result.message = f"{name}: " + "; ".join(problems) + _failure_note(run)
    result.diff = _unified(
        _outcome_lines(expect, expect["status"], expect.get("output")),
        _outcome_lines(expect, run.status, run.output),
        name,
    )
    return result


def _known_kinds(expected: list[StepRef], actual: list[StepRef]) -> list[StepRef]:
    """``expected`` with the kinds the fixture leaves out taken from the same step of the run
    (an unrecorded kind matches any), so that diffs show only real differences."""
    kinds = dict(actual)
    return [(key, kind if kind is not None else kinds.get(key)) for key, kind in expected]


def first_divergence(expected: list[StepRef], actual: list[StepRef]) -> tuple[int, str, str] | None:
    """``(index, step key, explanation)`` of the first difference, or None."""
    expected_keys = {key for key, _ in expected}
    actual_keys = {key for key, _ in actual}
    fix = "restore it, or re-record the fixture with --update"
    for index in range(max(len(expected), len(actual))):
        if index >= len(actual):
            key = expected[index][0]
            return (
                index,
                key,
                (
                    f"the code no longer reaches step {key!r} (removed, or the run ended or "
                    f"stopped before it); {fix}"
                ),
            )
        new_key, new_kind = actual[index]
        if index >= len(expected):
            return (
                index,
                new_key,
                (
                    f"step {new_key!r} was added after the recorded steps; if that is intended, "
                    "re-record the fixture with --update"
                ),
            )
        key, kind = expected[index]
        if key == new_key:
            if kind is not None and kind != new_kind:
                return (
                    index,
                    key,
                    (
                        f"step {key!r} was recorded as a {kind!r} step but the code now calls "
                        f"step.{new_kind}() with that id; keep the kind, use a new step id for "
                        "the new behaviour, or re-record the fixture with --update"
                    ),
                )
            continue
        if key not in actual_keys and new_key not in expected_keys and index == len(actual) - 1:
            why = (  # strict replay refused the unknown step, so the run stopped there
                f"the code calls step {new_key!r}, which the recording does not have, where "
                f"the recording calls {key!r}: {key!r} was renamed to {new_key!r}, or "
                f"{new_key!r} was added before it (replay did not run it); restore the step "
                "id and add new steps after the recorded ones, or re-record the fixture "
                "with --update"
            )
        elif key not in actual_keys and new_key not in expected_keys:
            why = (
                f"step {key!r} was renamed or removed (the code calls {new_key!r} there); "
                f"restore its id, or re-record the fixture with --update"
            )
        elif key not in actual_keys:
            why = f"step {key!r} was removed (the code goes on with {new_key!r}); {fix}"
        elif new_key not in expected_keys:
            why = (
                f"step {new_key!r} was added before {key!r}; new steps must not change the "
                "order of recorded ones in running code: add it after them, or re-record "
                "the fixture with --update"
            )
        else:
            why = (
                f"steps were reordered: the recording calls {key!r} here, the code calls "
                f"{new_key!r}; restore the order, or re-record the fixture with --update"
            )
        return index, key, why
    return None


def _failure_note(run: Run) -> str:
    if run.status == "failed" and run.error:
        if REFUSED in str(run.error.get("message")):
            return ""  # the divergence itself: the explanation says it all
        return f" (the run failed: {run.error.get('name')}: {run.error.get('message')})"
    if run.status == "cancelled" and run.cancel_reason:
        return f" (the run was cancelled: {run.cancel_reason})"
    if run.status not in TERMINAL_STATUSES:
        return f" (the run was still {run.status} when the replay stopped)"
    return ""


def render_sequence(steps: list[StepRef]) -> str:
    """``fetch (run), pause (sleep)``, or ``(no steps)``."""
    return ", ".join(_ref(step) for step in steps) or "(no steps)"


def _ref(step: StepRef) -> str:
    key, kind = step
    return f"{key} ({kind})" if kind else key


def _sequence_lines(steps: list[StepRef]) -> list[str]:
    return [f"{n}. {_ref(step)}" for n, step in enumerate(steps, 1)]


def _outcome_lines(expect: Mapping[str, Any], status: str | None, output: Any) -> list[str]:
    lines = [f"status: {json.dumps(status)}"]
    if "output" in expect:
        text = json.dumps(output, indent=2, sort_keys=True, ensure_ascii=False)
        lines += ("output: " + text).splitlines()
    return lines


def _unified(expected: list[str], actual: list[str], name: str) -> str:
    lines = difflib.unified_diff(
        expected, actual, f"expected ({name})", "actual (current code)", lineterm="", n=3
    )
    return "\n".join(lines)


def same_json(a: Any, b: Any) -> bool:
    """JSON equality: ``1 == 1.0`` but ``true != 1`` and ``[1] != (1,)`` never arises."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)
