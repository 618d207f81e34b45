"""The console script (``durable.cli.main:main``): usage errors are one ``error:`` line."""

from __future__ import annotations

import sys

import pytest

from durable.cli.main import installed_version, main


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["durable", *args])
    monkeypatch.setenv("DURABLE_URL", "http://127.0.0.1:1")
    with pytest.raises(SystemExit) as ended:
        main()
    out, err = capsys.readouterr()
    code = ended.value.code
    return (code if isinstance(code, int) else 0), out, err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["runs", "-s", "bogus"], "error: invalid value for '--status' / '-s': 'bogus' is not"),
        (["runs", "-n", "0"], "error: invalid value for '--limit' / '-n': 0 is not in the range"),
        (["runs", "--bogus"], "error: no such option: --bogus (see `durable runs --help`)"),
        (["nosuch"], "error: no such command 'nosuch'"),
    ],
)
def test_usage_errors_are_one_error_line_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    expected: str,
) -> None:
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert code == 2
    assert out == ""
    assert err.startswith(expected), err
    assert len(err.strip().splitlines()) == 1
    assert "╭" not in err and "Usage:" not in err


@pytest.mark.parametrize("args", [["--version"], ["version"]])
def test_version_as_an_option_and_a_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert (code, out, err) == (0, installed_version() + "\n", "")


def test_help_and_command_errors_keep_their_exit_codes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_main(monkeypatch, capsys, "runs", "--help")
    assert code == 0 and "--status" in out
    code, out, err = run_main(monkeypatch, capsys, "runs")  # nobody listens on port 1
    assert code == 2 and err.startswith("error: cannot reach the durable server")
    code, out, _ = run_main(monkeypatch, capsys)  # no command: the help
    assert code == 2 and "Usage" in out + _
