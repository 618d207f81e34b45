"""The dev server's request guard (SPEC section 10): who may talk to it, and how.

A web page open in the developer's browser can send requests to ``127.0.0.1:8288``: a
``fetch(url, {method: "POST", mode: "no-cors", body})`` goes out without a CORS preflight when
its type is ``text/plain`` or a form, and a DNS-rebinding page (a name of the attacker's that
starts resolving to 127.0.0.1) can even read the answers. So, before any endpoint runs:

- the ``Host`` header must name this server: a loopback name (``127.0.0.1``, ``localhost``,
  ``[::1]``), the ``--host`` address, or an ``--allow-host`` name, any port; else ``421``;
- a ``POST`` (every state-changing endpoint is one; the others are ``GET``, and any other method
  is a 405 that reaches no handler) must say ``Content-Type: application/json`` (parameters such
  as ``charset`` allowed), a type a page cannot send without a preflight the server never
  grants, else ``403 unsupported_media_type``; and an ``Origin`` header, when present, must be
  this server's own origin (``scheme://host:port`` of the request), else ``403 forbidden_origin``.

With a signing key (SPEC section 10), every ``/api/*`` request also needs
``Authorization: Bearer KEY`` (else ``401 unauthorized``) and ``POST /e/{event_key}`` needs
``event_key`` among the configured event keys (else ``401 invalid_event_key``); ``/health`` and
``/metrics`` stay open. Keys are compared in constant time.

Refusals have the API's one error shape (``POST /e/{key}`` adds ``status``, as its answers do).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # (the launcher imports this module's checks before the HTTP side)
    from starlette.types import ASGIApp, Receive, Scope, Send

#: Host names every server answers to: this machine.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
#: The methods that change state and so need a JSON type and a same-origin ``Origin``.
GUARDED_METHODS = frozenset({"POST"})
JSON_TYPE = "application/json"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def host_name(value: str) -> str:
    """A host name as compared: lower case, an IPv6 address without brackets."""
    value = value.strip().lower()
    if value.startswith("[") and value.endswith("]"):
        return value[1:-1]
    return value


def split_host(value: str) -> tuple[str, int | None] | None:
    """``(name, port)`` of a ``Host`` header value (``name[:port]``, ``[v6][:port]``), or
    None when it is not one."""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[1:end], value[end + 1 :]
    elif value.count(":") > 1:
        return None  # a bare IPv6 address: a Host header must bracket it
    else:
        name, colon, port = value.partition(":")
        rest = colon + port
    if not name:
        return None
    if not rest:
        return name.lower(), None
    digits = rest[1:]
    if rest[0] != ":" or not (digits.isascii() and digits.isdigit()) or len(digits) > 5:
        return None
    number = int(digits)
    return (name.lower(), number) if number <= 65535 else None


def allowed_hosts(bind_host: str | None = None, extra: Iterable[str] = ()) -> frozenset[str]:
    """The names a server bound to ``bind_host`` answers to: loopback, it, and ``extra``."""
    names = {*LOOPBACK_HOSTS, *(host_name(name) for name in extra)}
    if bind_host:
        names.add(host_name(bind_host))
    return frozenset(names)


def check_host_name(value: str) -> str:
    """``value`` if it is a bare host name or address (for ``--allow-host``), else a
    ValueError saying what is wrong with it."""
    name = value.strip()
    if not name:
        raise ValueError("an empty host name")
    if "/" in name or any(char.isspace() for char in name) or "@" in name:
        raise ValueError(f"{value!r} is not a host name (give the name alone, e.g. myhost.local)")
    bracketed = name.startswith("[")
    if (bracketed and "]:" in name) or (not bracketed and name.count(":") == 1):
        raise ValueError(f"{value!r} has a port: give the name alone (any port is answered)")
    if bracketed != name.endswith("]"):
        raise ValueError(f"{value!r} is not a host name (an IPv6 address: [fd00::1] or fd00::1)")
    return name


def _header(scope: Scope, name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in scope["headers"] if key.lower() == name]


def is_json_type(value: str) -> bool:
    """Whether a ``Content-Type`` value is ``application/json`` (any parameters)."""
    return value.split(";", 1)[0].strip().lower() == JSON_TYPE


class RequestGuard:
    """ASGI middleware refusing requests that do not name this server or may come from a
    web page (see the module docstring). Only ``http`` requests are checked."""

    def __init__(
        self,
        app: ASGIApp,
        hosts: Iterable[str],
        signing_key: str | None = None,
        event_keys: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.hosts = frozenset(host_name(name) for name in hosts)
        self.signing_key = signing_key or None
        self.event_keys = tuple(event_keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.check(scope)
            if refusal is not None:
                await _refuse(scope, send, *refusal)
                return
        await self.app(scope, receive, send)

    def check(self, scope: Scope) -> tuple[int, str, str] | None:
        """``(status, code, message)`` refusing the request, or None to let it through."""
        hosts = _header(scope, b"host")
        parsed = split_host(hosts[0]) if len(hosts) == 1 else None
        if parsed is None or parsed[0] not in self.hosts:
            shown = "none" if not hosts else ", ".join(repr(host[:100]) for host in hosts)
            return (
                421,
                "misdirected_request",
                f"this server does not answer to Host {shown}; it answers to "
                f"{', '.join(_shown(name) for name in sorted(self.hosts))} "
                "(more with `durable dev --allow-host NAME`)",
            )
        refusal = self.check_key(scope)
        if refusal is not None or scope["method"] not in GUARDED_METHODS:
            return refusal
        origins = _header(scope, b"origin")
        if origins:
            own = _origin(scope["scheme"], parsed[0], parsed[1])
            theirs = _parse_origin(origins[0]) if len(origins) == 1 else None
            if theirs != own:
                return (
                    403,
                    "forbidden_origin",
                    f"{scope['method']} from Origin {origins[0][:100]!r} refused: only this "
                    f"server's own origin may change state (a web page cannot send events or "
                    "invoke functions here)",
                )
        types = _header(scope, b"content-type")
        if len(types) != 1 or not is_json_type(types[0]):
            got = "no Content-Type" if not types else f"Content-Type {types[0][:100]!r}"
            return (
                403,
                "unsupported_media_type",
                f"{scope['method']} requests need Content-Type: {JSON_TYPE} (got {got}); "
                f"with curl: -H 'Content-Type: {JSON_TYPE}'",
            )
        return None

    def check_key(self, scope: Scope) -> tuple[int, str, str] | None:
        """The signing-key and event-key checks (only with a signing key)."""
        if self.signing_key is None:
            return None
        path = str(scope.get("path", ""))
        if path.startswith("/api/") or path == "/api":
            given = _bearer(_header(scope, b"authorization"))
            if given is None or not same_key(given, self.signing_key):
                return (
                    401,
                    "unauthorized",
                    "this server needs Authorization: Bearer <signing key> on /api/* "
                    "(the CLI and TUI send it from DURABLE_SIGNING_KEY or --signing-key)",
                )
        elif path.startswith("/e/"):
            key = path[len("/e/") :]
            if not any(same_key(key, known) for known in self.event_keys):
                return (
                    401,
                    "invalid_event_key",
                    "unknown event key: POST /e/{event_key} needs one of the server's "
                    "--event-key values",
                )
        return None


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine (``127.0.0.0/8``, ``::1``,
    ``localhost``); ``0.0.0.0``, ``::`` and every other address are reachable from outside."""
    name = host_name(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def key_problem(command: str, host: str, signing_key: str | None) -> str | None:
    """Why ``command`` may not bind ``host`` (a non-loopback address without a signing key),
    or None (SPEC section 10)."""
    if signing_key or is_loopback(host):
        return None
    return (
        f"{command} --host {host} would serve the API beyond this machine without a "
        "signing key: pass --signing-key KEY (or set DURABLE_SIGNING_KEY), and --event-key K "
        "for POST /e/K; clients then send Authorization: Bearer KEY"
    )


def same_key(given: str, expected: str) -> bool:
    """Whether two keys are equal, in time that does not depend on where they differ."""
    return hmac.compare_digest(given.encode(), expected.encode())


def _bearer(values: list[str]) -> str | None:
    if len(values) != 1:
        return None
    scheme, _, token = values[0].strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _shown(name: str) -> str:
    return f"[{name}]" if ":" in name else name


def _origin(scheme: str, name: str, port: int | None) -> tuple[str, str, int | None]:
    return scheme, host_name(name), port if port is not None else _DEFAULT_PORTS.get(scheme)


def _parse_origin(value: str) -> tuple[str, str, int | None] | None:
    """``(scheme, host, port)`` of an ``Origin`` header; None for ``null`` or nonsense."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    return _origin(parts.scheme, parts.hostname, port)


async def _refuse(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if str(scope.get("path", "")).startswith("/e/"):
        body["status"] = status  # Inngest's event API puts the status in the body too
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


__all__ = [
    "LOOPBACK_HOSTS",
    "RequestGuard",
    "allowed_hosts",
    "check_host_name",
    "host_name",
    "is_json_type",
    "is_loopback",
    "key_problem",
    "same_key",
    "split_host",
]
