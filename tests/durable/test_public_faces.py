"""The public modules the faces read (statuses, presentation, fixtures, the dev server's
names) are a contract like ``durable.__all__``: pin their exported names."""

from __future__ import annotations

import importlib
import inspect

import pytest

PINNED = {
    "durable.statuses": [
        "PARKED_STEP_STATUSES",
        "RUN_STATUSES",
        "STEP_KINDS",
        "STEP_STATUSES",
        "TERMINAL_STATUSES",
        "RunStatus",
        "StepKind",
        "StepStatus",
    ],
    "durable.presentation": [
        "BAR_GLYPH",
        "BAR_STYLE",
        "KIND_LABEL",
        "LEGEND",
        "PENDING",
        "STATUS_STYLE",
        "STATUS_SYMBOL",
        "Axis",
        "Segment",
        "ansi_sgr",
        "attempt_segment",
        "attempt_style",
        "attempts_of",
        "bar_glyph",
        "bar_kind",
        "bar_style",
        "elapsed",
        "error_line",
        "format_moment",
        "human_duration",
        "make_axis",
        "parse_duration",
        "parse_time",
        "run_end",
        "status_style",
        "status_symbol",
        "step_outcome",
        "step_segments",
        "step_span",
        "timed_out",
    ],
    "durable.fixtures": [
        "FixtureProblem",
        "InvalidFixtureError",
        "ReplayResult",
        "check_fixture",
        "fixture_json",
        "load_fixture",
        "replay_fixture_async",
        "write_fixture",
    ],
    "durable.devserver": [
        "DatabaseError",
        "DevOptions",
        "ListenError",
        "LoadAppsError",
        "LogNotWritableError",
        "RunApp",
        "ServerStartError",
        "bind_listeners",
        "check_host_name",
        "connect_host",
        "exit_on_ctrl_c",
        "interrupted",
        "key_problem",
        "load_apps",
        "log_path",
        "run",
        "run_production",
        "run_with_tui",
        "usual_ctrl_c",
        "wants_tui",
    ],
}


@pytest.mark.parametrize(("module_name", "names"), PINNED.items())
def test_the_exported_names_are_pinned(module_name: str, names: list[str]) -> None:
    module = importlib.import_module(module_name)
    assert module.__all__ == names
    assert module.__doc__ and module.__doc__.strip()


@pytest.mark.parametrize(("module_name", "names"), PINNED.items())
def test_every_exported_name_is_importable_and_documented(
    module_name: str, names: list[str]
) -> None:
    module = importlib.import_module(module_name)
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import *", namespace)
    for name in names:
        value = getattr(module, name)
        assert namespace[name] is value, name
        if inspect.isclass(value) or inspect.isfunction(value):
            assert (value.__doc__ or "").strip(), f"{module_name}.{name} has no docstring"


def test_an_unknown_name_is_an_attribute_error() -> None:
    for module_name in ("durable.devserver", "durable.fixtures"):
        with pytest.raises(AttributeError, match="no_such_name"):
            _ = importlib.import_module(module_name).no_such_name


def test_the_statuses_are_the_wire_strings() -> None:
    from durable.statuses import RUN_STATUSES, STEP_KINDS, TERMINAL_STATUSES, RunStatus

    assert RUN_STATUSES == (
        "queued",
        "running",
        "sleeping",
        "waiting",
        "completed",
        "failed",
        "cancelled",
    )
    assert STEP_KINDS == ("run", "sleep", "wait_for_event", "invoke", "send_event")
    assert "failed" in TERMINAL_STATUSES and RunStatus.FAILED == "failed"
    assert "running" not in TERMINAL_STATUSES


def test_no_exported_name_is_shadowed_by_a_submodule() -> None:
    """Importing ``durable.devserver.listen`` sets the package's ``listen`` to the module: a
    public name of the package must not be one of its modules' names."""
    import types

    import durable.devserver as package

    for home in package._HOMES.values():
        importlib.import_module(home[0] if isinstance(home, tuple) else home, package.__name__)
    for name in package.__all__:
        assert not isinstance(getattr(package, name), types.ModuleType), name
