"""The dev server binds its HTTP sockets first: every address of the host, or a clear error."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from durable.devserver.listen import ListenError, listen
from tests.support.harness import free_port


def test_every_address_of_the_host_is_bound() -> None:
    port = free_port()
    expected = {
        (family, address[0])
        for family, _, _, _, address in socket.getaddrinfo(
            "localhost", port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    }
    sockets = listen("localhost", port)
    try:
        assert {(s.family, s.getsockname()[0]) for s in sockets} == expected
        assert all(s.getsockname()[1] == port for s in sockets)
    finally:
        for sock in sockets:
            sock.close()


def test_a_busy_port_or_a_foreign_address_is_a_listen_error() -> None:
    (held,) = listen("127.0.0.1", 0)
    try:
        port = held.getsockname()[1]
        with pytest.raises(ListenError, match=f"port {port} on 127.0.0.1 is in use") as busy:
            listen("127.0.0.1", port)
        assert busy.value.in_use
    finally:
        held.close()
    with pytest.raises(ListenError, match="cannot be bound") as foreign:
        listen("192.0.2.1", free_port())  # TEST-NET-1: not an address of this machine
    assert not foreign.value.in_use


def test_the_inspector_path_names_a_foreign_host_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from durable.cli import dev_run as dev_command

    code = dev_command._dev_with_tui([], "192.0.2.1", free_port(), str(tmp_path / "dev.db"))
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: port ") and "on 192.0.2.1 cannot be bound" in err
    assert "is in use" not in err
