"""A small blocking client of the dev server's HTTP API, shared by the CLI commands.

Errors, drawn once::

    CliError                  message + exit code; `cli_errors()` prints it and exits
      unreachable server      exit 2, names the URL
      API error 400/404/413/422 ...
                              exit 2: the request was wrong (bad input, unknown id)
      API error 401/403/421   exit 2: refused (no or wrong signing key, a Host or Origin the
                              server does not answer)
      API error 409, 5xx, other
                              exit 1: a valid request the server could not carry out

The API answers errors as ``{"error": {"code": ..., "message": ...}}`` with a 4xx/5xx status;
the message is what the user sees.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from durable.presentation import STATUS_STYLE, format_moment
from durable.presentation import parse_time as parse_time  # the commands read API times

if TYPE_CHECKING:
    import httpx

DEFAULT_URL = "http://127.0.0.1:8288"
URL_ENV = "DURABLE_URL"
#: Where the signing key comes from when ``--signing-key`` is not given (SPEC section 10).
SIGNING_KEY_ENV = "DURABLE_SIGNING_KEY"
TIMEOUT = 10.0
#: What every POST says it sends (SPEC section 10: the server refuses any other type).
JSON_HEADERS = {"Content-Type": "application/json"}
#: Console width when stdout is not a terminal.
PIPE_WIDTH = 200

#: The ``--url`` option every API command takes (``DURABLE_URL`` when not given).
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help=f"Dev server URL (default: ${URL_ENV}, else {DEFAULT_URL}).",
        show_default=False,
    ),
]
#: The ``--signing-key`` option every API command takes (``DURABLE_SIGNING_KEY`` when not given).
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--signing-key",
        help=f"The server's signing key, sent as a Bearer token (default: ${SIGNING_KEY_ENV}).",
        show_default=False,
    ),
]
#: The ``--json`` flag: machine-readable output instead of tables.
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]

#: HTTP statuses that mean "the request was wrong": exit 2 (usage or input error).
_INPUT_STATUSES = frozenset({400, 404, 405, 413, 414, 415, 422})
#: HTTP statuses of a refusal (no or wrong key, Host, Origin): exit 2, with what to do.
_REFUSED_STATUSES = frozenset({401, 403, 421})


class CliError(Exception):
    """A failure to report on stderr, ending the command with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn a :class:`CliError` raised inside into ``error: ...`` on stderr and its exit code."""
    try:
        yield
    except CliError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(exc.exit_code) from None


def resolve_url(url: str | None) -> str:
    """The server URL: ``--url``, else ``$DURABLE_URL``, else the default; no trailing slash."""
    chosen = url or os.environ.get(URL_ENV) or DEFAULT_URL
    if not chosen.startswith(("http://", "https://")):
        raise CliError(f"--url must start with http:// or https://, got {chosen!r}")
    return chosen.rstrip("/")


def error_message(response: httpx.Response) -> str:
    """The ``error.message`` of an API error response, or a short excerpt of its body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        error = body["error"]
        message = str(error.get("message") or error.get("code") or "")
        if message:
            return message
    text = response.text.strip()[:200]
    return text or response.reason_phrase or "no details"


class ApiClient:
    """Calls one dev server; every failure becomes a :class:`CliError`."""

    def __init__(
        self, url: str | None = None, *, timeout: float = TIMEOUT, signing_key: str | None = None
    ) -> None:
        self.url = resolve_url(url)
        self.timeout = timeout
        key = signing_key or os.environ.get(SIGNING_KEY_ENV) or None
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET ``path`` and return the decoded JSON body."""
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        return self._request("GET", path, params=clean, headers=self.headers)

    def post(self, path: str, body: Any = None) -> Any:
        """POST ``body`` as JSON to ``path`` (no body if None) and return the decoded JSON
        body. The type is always JSON: the server refuses a POST of any other type."""
        payload: dict[str, Any] = {} if body is None else {"json": body}
        return self._request("POST", path, headers={**self.headers, **JSON_HEADERS}, **payload)

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx  # here, not at the top: `durable dev` starts faster without it

        try:
            response = httpx.request(method, self.url + path, timeout=self.timeout, **kwargs)
        except httpx.TimeoutException:
            raise CliError(
                f"the durable server at {self.url} did not answer within {self.timeout:g}s"
            ) from None
        except httpx.HTTPError as exc:
            raise CliError(
                f"cannot reach the durable server at {self.url} ({exc}); "
                f"is `durable dev` running? (set --url or ${URL_ENV})"
            ) from None
        if response.status_code in _REFUSED_STATUSES:
            hint = (
                f"; set --signing-key or ${SIGNING_KEY_ENV} to the server's key"
                if response.status_code == 401
                else ""
            )
            raise CliError(
                f"the server refused the request: {error_message(response)} "
                f"(HTTP {response.status_code}){hint}",
                exit_code=2,
            )
        if response.status_code >= 400:
            code = 2 if response.status_code in _INPUT_STATUSES else 1
            raise CliError(
                f"{error_message(response)} (HTTP {response.status_code})", exit_code=code
            )
        try:
            return response.json()
        except ValueError:
            raise CliError(
                f"the server at {self.url} answered {method} {path} with non-JSON content",
                exit_code=1,
            ) from None


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout (no colours: for scripts)."""
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def format_time(value: datetime | None, *, date: bool = True, ms: bool = True) -> str:
    """``2025-01-31 12:00:00.123`` (UTC), optionally without the date or milliseconds."""
    return format_moment(value, UTC, date=date, ms=ms, missing="-")


def make_console() -> Console:
    """A rich console on stdout; when piped (no terminal, no $COLUMNS) tables are not cut
    to 80 columns, so ``durable runs | grep`` sees whole ids."""
    console = Console()
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console = Console(width=PIPE_WIDTH)
    return console


STATUS_STYLES: dict[str, str] = STATUS_STYLE  #: the palette every face shares


def styled_status(status: Any) -> str:
    """A status as rich markup in its colour."""
    text = str(status or "?")
    return f"[{STATUS_STYLES.get(text, 'white')}]{escape(text)}[/]"
