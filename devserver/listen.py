"""The dev server's listening socket, bound before anything else starts."""

from __future__ import annotations

import errno
import socket


class ListenError(Exception):
    """The HTTP address cannot be bound: the port is in use, or the host is not ours."""

    def __init__(self, message: str, *, in_use: bool) -> None:
        super().__init__(message)
        self.in_use = in_use


def listen(host: str, port: int) -> list[socket.socket]:
    """Listening sockets on ``host:port`` for the HTTP API (:class:`ListenError` if not):
    one per address ``host`` resolves to (``localhost``: IPv4 and IPv6), as asyncio would.

    Bound before anything else starts, so a busy port is an error at once, never a server
    that logs "serving" and then cannot serve.
    """
    # An ASCII name as bytes: a str is encoded with the "idna" codec, imported for it (~2 ms
    # of a restart); non-ASCII names still go through it.
    name = host.encode("ascii") if host and host.isascii() else (host or None)
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc}", in_use=False) from None
    sockets: list[socket.socket] = []
    seen: set[tuple[int, object]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(2048)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        in_use = exc.errno == errno.EADDRINUSE
        reason = "is in use" if in_use else f"cannot be bound ({exc.strerror or exc})"
        raise ListenError(f"port {port} on {host} {reason}", in_use=in_use) from None
    return sockets
