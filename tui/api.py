"""The inspector's only way to the dev server: its HTTP API and SSE stream (httpx).

Errors, all raised by :class:`DurableClient` methods::

    ApiError                 any failure talking to the server
     ├── Disconnected        the server could not be reached (refused, reset, timed out)
     └── RequestFailed       the server answered 4xx/5xx with {"error": {"code", "message"}}

:meth:`DurableClient.stream` never raises for connection problems: it yields
``("disconnected", {"error", "retry_in"})``, waits (exponential backoff), reconnects and yields
``("connected", {"url"})`` again, so a screen can show the state and carry on. A client that
fell behind gets an ``overflow`` frame and its stream ends: it reconnects at once (the new
``connected`` tells screens to reload what they show).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import httpx

from durable.fixtures import write_fixture

from .sse import SSEParser, StreamMessage

__all__ = [
    "DEFAULT_URL",
    "ApiError",
    "ConnectionState",
    "Disconnected",
    "DurableClient",
    "RequestFailed",
    "RunPage",
    "StreamMessage",
]

DEFAULT_URL = "http://127.0.0.1:8288"
#: The environment variable the signing key is read from (SPEC section 10).
SIGNING_KEY_ENV = "DURABLE_SIGNING_KEY"
CONNECTED = "connected"
DISCONNECTED = "disconnected"
OVERFLOW = "overflow"
_MISSING: Any = object()


class ApiError(Exception):
    """A call to the dev server failed."""

    code = "api_error"


class Disconnected(ApiError):
    """The server could not be reached."""

    code = "disconnected"

    def __init__(self, url: str, reason: str) -> None:
        self.url, self.reason = url, reason
        super().__init__(f"cannot reach {url}: {reason}")


class RequestFailed(ApiError):
    """The server answered with an error status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message
        super().__init__(f"{message} ({code}, HTTP {status})")


@dataclass(frozen=True, slots=True)
class ConnectionState:
    """What the status bar shows about the link to the server."""

    state: Literal["connecting", "connected", "disconnected"]
    url: str
    detail: str = ""
    retry_in: float | None = None


@dataclass(frozen=True, slots=True)
class RunPage:
    """One page of ``GET /api/runs`` (newest first); ``cursor`` fetches the next one."""

    runs: list[dict[str, Any]]
    cursor: str | None


def describe(exc: BaseException) -> str:
    """A short human reason for a transport error."""
    text = str(exc).strip()
    if isinstance(exc, httpx.ConnectError):
        if not text or "refused" in text.lower() or "all connection attempts" in text.lower():
            return "connection refused"
        return text
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return "the connection was lost"
    return text or type(exc).__name__


def _refused(response: httpx.Response) -> RequestFailed:
    """A refused stream as the error the server gave (a 421 says which hosts it answers)."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict) and error.get("message"):
        return RequestFailed(response.status_code, str(error.get("code")), str(error["message"]))
    return RequestFailed(response.status_code, "stream", "the stream was refused")


class DurableClient:
    """Async client of one dev server. Create it anywhere; it connects on first use."""

    def __init__(
        self, url: str = DEFAULT_URL, *, timeout: float = 5.0, signing_key: str | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        #: sent as ``Authorization: Bearer`` (default: ``$DURABLE_SIGNING_KEY``, if set)
        self.signing_key = signing_key or os.environ.get(SIGNING_KEY_ENV) or None
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            headers = {"Authorization": f"Bearer {self.signing_key}"} if self.signing_key else {}
            self._http = httpx.AsyncClient(base_url=self.url, timeout=self.timeout, headers=headers)
        return self._http

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        if method == "POST":  # bodiless ones too: the server refuses a POST of another type
            kwargs.setdefault("headers", {})["Content-Type"] = "application/json"
        try:
            response = await self._client().request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise Disconnected(self.url, describe(exc)) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            error = body.get("error") if isinstance(body, dict) else None
            if isinstance(error, dict):
                code = str(error.get("code", "error"))
                message = str(error.get("message", response.text[:200]))
            else:
                code, message = "error", response.text[:200] or response.reason_phrase
            raise RequestFailed(response.status_code, code, message)
        return body

    # -- reads ------------------------------------------------------------------------------

    async def health(self, *, timeout: float | None = None) -> dict[str, Any]:
        """``GET /health``; ``timeout`` (seconds) overrides the client's for this request."""
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        return dict(await self._request("GET", "/health", **extra) or {})

    async def runs(
        self,
        *,
        status: str | None = None,
        function: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> RunPage:
        """One page of runs, newest first, filtered by the server."""
        params: dict[str, Any] = {"limit": limit}
        for key, value in (("status", status), ("function", function), ("cursor", cursor)):
            if value:
                params[key] = value
        body = await self._request("GET", "/api/runs", params=params) or {}
        return RunPage(list(body.get("runs") or []), body.get("cursor"))

    async def run(self, run_id: str) -> dict[str, Any]:
        """One run with its step timeline."""
        return dict(await self._request("GET", f"/api/runs/{run_id}") or {})

    async def logs(self, run_id: str, step: str | None = None) -> list[dict[str, Any]]:
        """The run's log lines (all, or one step's)."""
        params = {"step": step} if step else None
        body = await self._request("GET", f"/api/runs/{run_id}/logs", params=params)
        if isinstance(body, dict):
            body = body.get("logs") or body.get("lines") or []
        return list(body or [])

    async def events(self, *, name: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Recent events, newest first, with the run ids each started."""
        params: dict[str, Any] = {"limit": limit}
        if name:
            params["name"] = name
        body = await self._request("GET", "/api/events", params=params)
        if isinstance(body, dict):
            body = body.get("events") or []
        return list(body or [])

    async def functions(self) -> dict[str, Any]:
        """``{"functions": [...], "errors": [...]}``."""
        body = await self._request("GET", "/api/functions") or {}
        return {"functions": list(body.get("functions") or []), "errors": body.get("errors") or []}

    async def fixture(self, run_id: str) -> dict[str, Any]:
        """The run as a replay fixture."""
        return dict(await self._request("GET", f"/api/runs/{run_id}/fixture") or {})

    # -- actions ----------------------------------------------------------------------------

    async def cancel(self, run_id: str) -> dict[str, Any]:
        """Cancel a run."""
        return dict(await self._request("POST", f"/api/runs/{run_id}/cancel") or {})

    async def rerun(
        self, run_id: str, *, from_step: str | None = None, output: Any = _MISSING
    ) -> dict[str, Any]:
        """Start a new run with the same event (optionally reusing steps before ``from_step``)."""
        body: dict[str, Any] = {}
        if from_step is not None:
            body["from_step"] = from_step
        if output is not _MISSING:
            body["output"] = output
        return dict(await self._request("POST", f"/api/runs/{run_id}/rerun", json=body) or {})

    async def invoke(self, function_id: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Start ``function_id`` now (a cron function: its timer event); ``{"run_id", ...}``."""
        path = f"/api/functions/{quote(function_id, safe='')}/invoke"  # ids may hold a "/"
        return dict(await self._request("POST", path, json={"data": data or {}}) or {})

    async def send(self, events: dict[str, Any] | Sequence[dict[str, Any]]) -> list[str]:
        """Send one event or a list; return their ids."""
        ids, _ = await self.send_outcomes(events)
        return ids

    async def send_outcomes(
        self, events: dict[str, Any] | Sequence[dict[str, Any]]
    ) -> tuple[list[str], list[dict[str, Any]]]:
        """Send; return the ids and what each event did (``{"id", "run_ids", "skipped"}``,
        from servers that say it; an empty list from those that do not)."""
        payload = events if isinstance(events, dict) else list(events)
        body = await self._request("POST", "/api/events", json=payload) or {}
        ids = [str(event_id) for event_id in body.get("ids") or []]
        listed = body.get("events")
        outcomes = [o for o in listed if isinstance(o, dict)] if isinstance(listed, list) else []
        return ids, outcomes

    async def export_fixture(self, run_id: str, directory: Path | str = "fixtures") -> Path:
        """Save the run's fixture as ``<directory>/<run_id>.json``; return the path."""
        fixture = await self.fixture(run_id)
        return write_fixture(Path(directory) / f"{run_id}.json", fixture)

    # -- live updates -----------------------------------------------------------------------

    async def stream(
        self, *, min_backoff: float = 0.25, max_backoff: float = 5.0
    ) -> AsyncIterator[StreamMessage]:
        """Follow ``GET /api/stream`` forever, reconnecting with exponential backoff."""
        delay = min_backoff
        timeout = httpx.Timeout(self.timeout, read=None)
        while True:
            try:
                async with self._client().stream("GET", "/api/stream", timeout=timeout) as resp:
                    if resp.status_code != 200:
                        await resp.aread()
                        raise _refused(resp)
                    yield CONNECTED, {"url": self.url}
                    delay = min_backoff
                    parser = SSEParser()
                    overflowed = False
                    async for line in resp.aiter_lines():
                        message = parser.feed(line)
                        if message is None:
                            continue
                        if message[0] == OVERFLOW:
                            overflowed = True  # we fell behind: the server ends this stream
                        else:
                            yield message
                if overflowed:
                    continue  # reconnect at once; the new "connected" makes screens reload
                reason = "the server closed the stream"
            except httpx.HTTPError as exc:
                reason = describe(exc)
            except RequestFailed as exc:
                reason = str(exc)
            yield DISCONNECTED, {"error": reason, "retry_in": delay}
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_backoff)
