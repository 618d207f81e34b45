"""``app.send`` / ``app.send_sync`` against a real HTTP server on a loopback port."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from durable import Durable, InvalidEventError, SendError


class FakeServer(BaseHTTPRequestHandler):
    received: ClassVar[list[Any]] = []
    status = 200

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeServer.received.append((self.path, body))
        payload: dict[str, Any]
        if FakeServer.status == 200:
            payload = {"ids": [event["id"] for event in body]}
        else:
            payload = {"error": {"code": "invalid_event", "message": "nope"}}
        data = json.dumps(payload).encode()
        self.send_response(FakeServer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def server_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    FakeServer.received, FakeServer.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("DURABLE_URL", url)
    yield url
    server.shutdown()
    server.server_close()


async def test_send_posts_validated_events_and_returns_ids(server_url: str) -> None:
    app = Durable(id="t")
    ids = await app.send([{"name": "a/b", "data": {"x": 1}}, {"name": "a/c", "id": "mine"}])
    assert len(ids) == 2 and ids[1] == "mine"
    path, body = FakeServer.received[0]
    assert path == "/api/events"
    assert [e["name"] for e in body] == ["a/b", "a/c"]
    assert body[0]["data"] == {"x": 1} and body[0]["ts"] > 0


def test_send_sync_works_outside_an_event_loop(server_url: str) -> None:
    app = Durable(id="t")
    assert app.send_sync({"name": "x", "id": "e1"}) == ["e1"]


async def test_send_reports_the_servers_error(server_url: str) -> None:
    FakeServer.status = 400
    with pytest.raises(SendError, match=r"400.*nope"):
        await Durable(id="t").send({"name": "x"})


async def test_send_rejects_bad_events_before_the_network(server_url: str) -> None:
    with pytest.raises(InvalidEventError, match="name"):
        await Durable(id="t").send({"data": {}})
    assert FakeServer.received == []


def test_send_names_an_unreachable_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DURABLE_URL", "http://127.0.0.1:9")
    with pytest.raises(
        SendError, match=r"cannot reach the durable server at http://127\.0\.0\.1:9"
    ):
        Durable(id="t").send_sync({"name": "x"})
