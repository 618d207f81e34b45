"""Sending events to a durable server over HTTP (``POST /api/events``)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from .._errors import SendError
from .events import Event, validate_events


def _payload(events: Event | Mapping[str, Any] | Sequence[Any]) -> list[dict[str, Any]]:
    raw: Any = list(events) if isinstance(events, (list, tuple)) else events
    now_ms = int(time.time() * 1000)
    return [event.to_dict() for event in validate_events(raw, now_ms=now_ms)]


def _ids(response: httpx.Response, url: str) -> list[str]:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 400:
        message = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
        raise SendError(
            f"server at {url} refused the events ({response.status_code}): "
            f"{message or response.text[:200]}",
            url=url,
            status=response.status_code,
        )
    return [str(event_id) for event_id in body.get("ids", [])]


async def send_events(events: Any, *, url: str, timeout: float = 10.0) -> list[str]:
    """POST events to ``url``; return their ids."""
    payload = _payload(events)
    endpoint = url.rstrip("/") + "/api/events"
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.post(endpoint, json=payload)
    except httpx.HTTPError as exc:
        raise SendError(f"cannot reach the durable server at {url}: {exc}", url=url) from None
    return _ids(response, url)


def send_events_sync(events: Any, *, url: str, timeout: float = 10.0) -> list[str]:
    """Blocking form of :func:`send_events`."""
    payload = _payload(events)
    endpoint = url.rstrip("/") + "/api/events"
    try:
        response = httpx.post(endpoint, json=payload, timeout=timeout)
    except httpx.HTTPError as exc:
        raise SendError(f"cannot reach the durable server at {url}: {exc}", url=url) from None
    return _ids(response, url)
