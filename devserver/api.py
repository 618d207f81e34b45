"""The dev server's HTTP API (SPEC section 2), a Starlette app over a :class:`ServerContext`.

Every write goes through the orchestrator, on the event loop that runs it (one writer), and
is committed before the response. Every error is ``{"error": {"code", "message"}}`` with a
4xx/5xx status; an unexpected exception is logged and answered with a generic 500, and the
server keeps serving. Request bodies are read up to :data:`MAX_BODY_BYTES`, never further.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from durable._define.events import validate_events
from durable._errors import (
    EventTooLargeError,
    InvalidEventError,
    StoreError,
    UnknownFunctionError,
)
from durable._replay.fixtures import fixture_from_run
from durable._stores.base import EventRecord, RunRecord, RunStatus, StepRecord, Store

from .context import ServerContext
from .guard import RequestGuard, allowed_hosts
from .invoke import invocation_event
from .rerun import RerunError, start_rerun
from .stream import DEFAULT_KEEPALIVE, Follow, StreamHub
from .views import accepted_view, event_view, iso, log_view, run_view

#: The largest request body read (a batch of events); larger ones get a 413.
MAX_BODY_BYTES = 16 * 1024 * 1024
#: The most events accepted in one request.
MAX_EVENTS_PER_REQUEST = 5_000
#: The longest cancellation ``reason`` accepted (characters); a longer one is a 400.
MAX_REASON_CHARS = 10_000
#: The range of ``limit`` query parameters.
MAX_PAGE = 1_000
DEFAULT_PAGE = 50

_STATUSES = tuple(status.value for status in RunStatus)

logger = logging.getLogger("durable.devserver")

T = TypeVar("T")

Handler = Callable[[Request], Awaitable[Response]]


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message"}}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(
    status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The one error shape of the API."""
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers=headers)


def _endpoint(handler: Handler) -> Handler:
    """Answer :class:`ApiError` in the error shape and anything unexpected with a bare 500."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message)
        except StoreError as exc:  # nothing was written: the store rolled the request back
            logger.warning("%s %s: %s", request.method, request.url.path, exc)
            return error_response(507 if exc.reason == "database_full" else 503, exc.code, str(exc))
        except Exception:
            logger.exception("error handling %s %s", request.method, request.url.path)
            return error_response(500, "internal_error", "internal server error (see the log)")

    return endpoint


# -- request parsing ----------------------------------------------------------------------


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, or a 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(size, limit, at_least=True)
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError(400, "client_disconnect", "the client went away mid-body") from None
    return b"".join(chunks)


def _too_large(size: int, limit: int, *, at_least: bool = False) -> ApiError:
    more = "more than " if at_least else ""
    return ApiError(
        413,
        "body_too_large",
        f"request body is {more}{size} bytes, over the limit of {limit} bytes",
    )


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


#: A ``\\u`` escape of a UTF-16 surrogate: the only way a decoded body can hold a lone one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(value: Any) -> str | None:
    """The first string (or key) in ``value`` holding a lone surrogate, which is not text."""
    stack = [value]
    while stack:  # iterative: the value may be nested as deep as the parser allows
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                return item
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


async def read_json(request: Request) -> Any:
    """The parsed JSON body: 400 naming the problem if it is empty or not JSON."""
    body = await read_body(request)
    if not body.strip():
        raise ApiError(400, "invalid_json", "the request body is empty; expected JSON")
    return parse_json(body)


def parse_json(body: bytes) -> Any:
    """``body`` parsed as strict JSON (no NaN, no lone surrogates); 400 naming the problem."""
    try:
        # strict decoding: json.loads(bytes) would let UTF-8-encoded surrogates through
        text = body.decode(json.detect_encoding(body))
    except UnicodeDecodeError as exc:
        raise ApiError(
            400,
            "invalid_json",
            f"invalid JSON: the body is not {exc.encoding.upper()} text "
            f"({exc.reason} at byte {exc.start})",
        ) from None
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise ApiError(400, "invalid_json", "invalid JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, NaN, an integer of over 4300 digits
        raise ApiError(400, "invalid_json", f"invalid JSON: {exc}") from None
    if _SURROGATE_ESCAPE.search(text):
        bad = _lone_surrogate(value)
        if bad is not None:
            raise ApiError(
                400,
                "invalid_json",
                f"invalid JSON: the string {bad[:100]!r} holds a lone UTF-16 surrogate "
                "(an unpaired \\uD800-\\uDFFF escape), which is not text",
            )
    return value


async def read_object(request: Request, shape: str) -> dict[str, Any]:
    """An optional JSON-object body (``{}`` when there is none): 400 ``invalid_body`` naming
    what came instead (``null``, ``0``, ``false``, ``""``, a list...) and the expected
    ``shape``."""
    body = await read_body(request)
    if not body.strip():
        return {}
    value = parse_json(body)
    if not isinstance(value, dict):
        raise ApiError(
            400,
            "invalid_body",
            f"the body must be a JSON object ({shape}) or empty, got {_describe(value)}",
        )
    return value


def _describe(value: Any) -> str:
    """A JSON value for an error message: its type and, if short, itself."""
    kind = {
        type(None): "null",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)
    text = json.dumps(value, ensure_ascii=False)
    if value is None:
        return kind
    return f"{kind} ({text})" if len(text) <= 40 else kind


def query_limit(request: Request, default: int = DEFAULT_PAGE) -> int:
    """The ``limit`` query parameter, 1 to :data:`MAX_PAGE`."""
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE:
        raise ApiError(
            400,
            "invalid_parameter",
            f"'limit' must be an integer from 1 to {MAX_PAGE}, got {raw!r}",
        )
    return int(raw)


def _run_or_404(ctx: ServerContext, run_id: str) -> RunRecord:
    run = ctx.store.get_run(run_id)
    if run is None:
        raise ApiError(404, "run_not_found", f"no run with id {run_id!r}")
    return run


# -- the endpoints ------------------------------------------------------------------------


class Api:
    """The endpoint handlers, over one server context."""

    def __init__(self, ctx: ServerContext, hub: StreamHub) -> None:
        self.ctx = ctx
        self.hub = hub

    async def _read(self, read: Callable[[Store], T]) -> T:
        """A listing's store read: off the event loop when the server can (see reads.py)."""
        if self.ctx.reads is None:
            return read(self.ctx.store)
        return await self.ctx.reads(read)

    def _view(self, run: RunRecord, steps: list[StepRecord] | None = None) -> dict[str, Any]:
        """A run's view, with why it is held back if it is."""
        held = self.ctx.orchestrator.parking.reason(run.run_id)
        return run_view(run, steps, queued_reason=held)

    async def accept_events(self, request: Request) -> list[EventRecord]:
        """Validate a body of one event or a list, then ingest and commit them all."""
        raw = await read_json(request)
        if isinstance(raw, list) and len(raw) > MAX_EVENTS_PER_REQUEST:
            raise ApiError(
                413,
                "too_many_events",
                f"{len(raw)} events in one request, over the limit of {MAX_EVENTS_PER_REQUEST}",
            )
        try:
            events = validate_events(raw, now_ms=int(self.ctx.clock.now() * 1000))
        except EventTooLargeError as exc:
            raise ApiError(413, exc.code, exc.message) from None
        except InvalidEventError as exc:
            raise ApiError(400, exc.code, exc.message) from None
        records = await self.ctx.orchestrator.accept(events)
        # The passes accept() started send their requests to the worker before this
        # response is written (the step starts ~0.2 ms sooner; the response waits as long).
        await asyncio.sleep(0)
        return records

    async def events(self, request: Request) -> Response:
        """``/api/events``: ``POST`` sends events, ``GET`` lists recent ones."""
        if request.method == "POST":
            records = await self.accept_events(request)
            return JSONResponse(
                {"ids": [r.id for r in records], "events": [accepted_view(r) for r in records]}
            )
        return await self.list_events(request)

    async def post_inngest(self, request: Request) -> Response:
        """``POST /e/{event_key}``: Inngest's event API (the key is not checked locally)."""
        try:
            records = await self.accept_events(request)
        except ApiError as exc:
            body = {"error": {"code": exc.code, "message": exc.message}, "status": exc.status}
            return JSONResponse(body, exc.status)
        return JSONResponse({"ids": [r.id for r in records], "status": 200})

    async def list_events(self, request: Request) -> Response:
        """``GET /api/events?name=&limit=``: recent events, newest first."""
        name = request.query_params.get("name") or None
        limit = query_limit(request)
        events = await self._read(lambda store: store.list_events(name=name, limit=limit))
        return JSONResponse({"events": [event_view(event) for event in events]})

    async def list_functions(self, request: Request) -> Response:
        """``GET /api/functions``: registered functions and the last load's errors."""
        registry = self.ctx.registry
        return JSONResponse(
            {
                "functions": [info.to_dict() for info in registry.functions.values()],
                "errors": [error.to_dict() for error in registry.errors],
            }
        )

    async def list_runs(self, request: Request) -> Response:
        """``GET /api/runs?status=&function=&limit=&cursor=``: runs newest first, paged."""
        params = request.query_params
        status = params.get("status") or None
        if status is not None and status not in _STATUSES:
            allowed = ", ".join(_STATUSES)
            raise ApiError(
                400, "invalid_parameter", f"'status' must be one of {allowed}; got {status!r}"
            )
        cursor = params.get("cursor") or None
        if cursor is not None and self.ctx.store.get_run(cursor) is None:
            raise ApiError(400, "invalid_parameter", f"'cursor' names no run: {cursor!r}")
        limit = query_limit(request)
        function_id = params.get("function") or None
        runs = await self._read(
            lambda store: store.list_runs(
                status=status, function_id=function_id, limit=limit + 1, before=cursor
            )
        )
        next_cursor = runs[limit - 1].run_id if len(runs) > limit else None
        return JSONResponse(
            {"runs": [self._view(run) for run in runs[:limit]], "cursor": next_cursor}
        )

    async def get_run(self, request: Request) -> Response:
        """``GET /api/runs/{run_id}``: one run with its step timeline."""
        run = _run_or_404(self.ctx, request.path_params["run_id"])
        return JSONResponse(self._view(run, self.ctx.store.get_steps(run.run_id)))

    async def get_logs(self, request: Request) -> Response:
        """``GET /api/runs/{run_id}/logs?step=KEY``: the run's ``ctx.logger`` lines."""
        run = _run_or_404(self.ctx, request.path_params["run_id"])
        step = request.query_params.get("step") or None
        lines = self.ctx.store.get_logs(run.run_id)
        if step is not None:
            lines = [line for line in lines if line.step_key == step]
        return JSONResponse({"run_id": run.run_id, "logs": [log_view(line) for line in lines]})

    async def cancel_run(self, request: Request) -> Response:
        """``POST /api/runs/{run_id}/cancel``: cancel; 409 if the run already ended."""
        run = _run_or_404(self.ctx, request.path_params["run_id"])
        body = await read_object(request, '{"reason": "..."}')
        reason = (body or {}).get("reason", "cancelled by request")
        if not isinstance(reason, str) or not reason:
            raise ApiError(400, "invalid_body", "'reason' must be a non-empty string")
        if len(reason) > MAX_REASON_CHARS:
            raise ApiError(
                400,
                "invalid_body",
                f"'reason' is {len(reason):,} characters, over the limit of "
                f"{MAX_REASON_CHARS:,}: a cancellation reason is a short note",
            )
        if not await self.ctx.orchestrator.cancel(run.run_id, reason):
            raise ApiError(
                409, "run_finished", f"run {run.run_id} already ended: {run.status.value}"
            )
        return JSONResponse(self._view(_run_or_404(self.ctx, run.run_id)))

    async def rerun(self, request: Request) -> Response:
        """``POST /api/runs/{run_id}/rerun``: a new run, optionally reusing earlier steps."""
        run = _run_or_404(self.ctx, request.path_params["run_id"])
        body = await read_object(request, '{"from_step": ..., "output": ...}')
        from_step = body.get("from_step")
        if from_step is not None and not isinstance(from_step, str):
            raise ApiError(400, "invalid_body", "'from_step' must be a step key (a string)")
        if "output" in body and from_step is None:
            raise ApiError(400, "invalid_body", "'output' needs 'from_step': the step it replaces")
        try:
            new, reused = await start_rerun(self.ctx.orchestrator, run, from_step, body)
        except RerunError as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None
        except UnknownFunctionError as exc:
            raise ApiError(422, exc.code, exc.message) from None
        return JSONResponse({"run_id": new.run_id, "rerun_of": run.run_id, "reused_steps": reused})

    async def invoke(self, request: Request) -> Response:
        """``POST /api/functions/{function_id}/invoke``: start it now, body ``{"data": {...}}``."""
        function_id = request.path_params["function_id"]
        try:
            config = self.ctx.orchestrator.function(function_id)
        except UnknownFunctionError as exc:
            raise ApiError(404, exc.code, exc.message) from None
        body = await read_object(request, '{"data": {...}}')
        data = body.get("data", {})
        if not isinstance(data, dict):
            raise ApiError(
                400, "invalid_body", f"'data' must be a JSON object, got {_describe(data)}"
            )
        try:
            async with self.ctx.orchestrator.transaction():  # committed before the answer
                run = self.ctx.orchestrator.start_run(
                    function_id, invocation_event(config, data), trigger="manual"
                )
        except (InvalidEventError, EventTooLargeError) as exc:
            raise ApiError(400, exc.code, exc.message) from None
        return JSONResponse({"run_id": run.run_id, "function_id": function_id, "event": run.event})

    async def get_fixture(self, request: Request) -> Response:
        """``GET /api/runs/{run_id}/fixture``: the run as a replay fixture."""
        run = _run_or_404(self.ctx, request.path_params["run_id"])
        steps = self.ctx.store.get_steps(run.run_id)
        fixture = fixture_from_run(
            run, steps, find_event=self.ctx.store.get_event, root=self.ctx.root
        )
        return JSONResponse(fixture)

    async def stream(self, request: Request) -> Response:
        """``GET /api/stream?run_id=``: server-sent run, step and event changes."""
        client = self.hub.connect(run_id=request.query_params.get("run_id") or None)
        return StreamingResponse(
            self.hub.frames(client),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def health(self, request: Request) -> Response:
        """``GET /health``: liveness, plus the server's status counters."""
        now = self.ctx.clock.now()
        problem = self.ctx.orchestrator.store_problem
        return JSONResponse(
            {
                **self.ctx.status,
                "status": "ok" if problem is None else "degraded",
                **(
                    {"store_error": {"code": problem.code, "message": str(problem)}}
                    if problem
                    else {}
                ),
                "started_at": iso(self.ctx.started_at),
                "uptime_s": round(now - self.ctx.started_at, 3),
                "functions": len(self.ctx.registry.functions),
                "streams": len(self.hub.clients),
            }
        )


# -- the app ------------------------------------------------------------------------------


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        code, message = "not_found", f"no such endpoint: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        code = "method_not_allowed"
        message = f"{request.method} is not allowed on {request.url.path} (allowed: {allowed})"
    else:
        code, message = "http_error", str(exc.detail)
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    return error_response(500, "internal_error", "internal server error (see the log)")


def create_app(
    ctx: ServerContext,
    *,
    keepalive: float = DEFAULT_KEEPALIVE,
    hosts: Iterable[str] | None = None,
    signing_key: str | None = None,
    event_keys: Iterable[str] = (),
    metrics: Callable[[], str] | None = None,
) -> Starlette:
    """The API app of ``ctx``; ``app.state.stream`` is its SSE hub (close it on shutdown).

    ``hosts`` are the ``Host`` names it answers to (default: the loopback names); see
    :mod:`devserver.guard` for the checks every request passes first (with ``signing_key``:
    Bearer auth on ``/api/*``, ``event_keys`` on ``/e/{key}``). ``metrics`` renders
    ``GET /metrics`` (Prometheus text).
    """
    follow: Follow | None = None
    if ctx.reads is not None and ctx.reads.follows_other_servers:  # others' runs too
        follow = ctx.reads.run_changes
    hub = StreamHub(keepalive=keepalive, follow=follow)
    ctx.orchestrator.subscribe(hub.publish)
    api = Api(ctx, hub)
    routes = [
        Route("/api/events", _endpoint(api.events), methods=["GET", "POST"]),
        Route("/e/{event_key}", _endpoint(api.post_inngest), methods=["POST"]),
        Route("/api/functions", _endpoint(api.list_functions), methods=["GET"]),
        Route("/api/functions/{function_id:path}/invoke", _endpoint(api.invoke), methods=["POST"]),
        Route("/api/runs", _endpoint(api.list_runs), methods=["GET"]),
        Route("/api/runs/{run_id}", _endpoint(api.get_run), methods=["GET"]),
        Route("/api/runs/{run_id}/logs", _endpoint(api.get_logs), methods=["GET"]),
        Route("/api/runs/{run_id}/cancel", _endpoint(api.cancel_run), methods=["POST"]),
        Route("/api/runs/{run_id}/rerun", _endpoint(api.rerun), methods=["POST"]),
        Route("/api/runs/{run_id}/fixture", _endpoint(api.get_fixture), methods=["GET"]),
        Route("/api/stream", _endpoint(api.stream), methods=["GET"]),
        Route("/health", _endpoint(api.health), methods=["GET"]),
    ]
    if metrics is not None:
        routes.append(Route("/metrics", _metrics_endpoint(metrics), methods=["GET"]))
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                RequestGuard,
                hosts=allowed_hosts() if hosts is None else hosts,
                signing_key=signing_key,
                event_keys=tuple(event_keys),
            )
        ],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    app.state.stream = hub
    return app


def _metrics_endpoint(render: Callable[[], str]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(render(), media_type="text/plain; version=0.0.4")

    return endpoint


__all__ = ["MAX_BODY_BYTES", "Api", "ApiError", "create_app", "error_response"]
