"""``durable dev`` and ``durable start`` check their security and retention options before
anything starts: exit 2 with one ``error:`` line naming the option and the fix."""

from __future__ import annotations

import sys

import pytest

from durable.cli.main import main


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["durable", *args])
    monkeypatch.delenv("DURABLE_SIGNING_KEY", raising=False)
    with pytest.raises(SystemExit) as ended:
        main()
    code = ended.value.code
    return (code if isinstance(code, int) else 0), capsys.readouterr().err


@pytest.mark.parametrize("command", ["dev", "start"])
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10"])
def test_a_public_host_without_a_key_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str, host: str
) -> None:
    code, err = run_main(monkeypatch, capsys, command, "--host", host, "--no-tui"
                         if command == "dev" else "--workers=1")  # fmt: skip
    assert code == 2
    assert err.startswith(f"error: durable {command} --host {host} ")
    assert "--signing-key" in err and "DURABLE_SIGNING_KEY" in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--retention", "soon"], "error: --retention: invalid duration 'soon'"),
        (["--retention", "-1h"], "error: --retention"),
        (["--event-key", "k1"], "error: --event-key needs --signing-key"),
        (["--signing-key", "a b"], "error: --signing-key must be a non-empty key without spaces"),
        (["--signing-key", "k", "--event-key", "a/b"], "error: --event-key 'a/b'"),
        (["--workers", "0"], "error: --workers must be at least 1, got 0"),
        (["--drain-timeout", "0"], "error: --drain-timeout must be > 0 seconds, got 0.0"),
    ],
)
def test_bad_options_of_durable_start_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    expected: str,
) -> None:
    code, err = run_main(monkeypatch, capsys, "start", *args)
    assert code == 2 and err.startswith(expected), err
