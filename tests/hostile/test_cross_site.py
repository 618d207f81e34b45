"""Requests a web page could make (SPEC section 10), against a real server over raw HTTP.

A page in the developer's browser can POST to ``127.0.0.1:8288`` without a CORS preflight
when it sends ``text/plain`` or a form (``fetch(url, {mode: "no-cors"})``, a ``<form>``), and a
DNS-rebinding page reaches it under a name of its own. So: a POST must say
``Content-Type: application/json`` and come from no foreign ``Origin`` (else 403, nothing
stored); a request whose ``Host`` does not name this server is a 421, whatever the endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from durable.devserver.guard import GUARDED_METHODS, allowed_hosts
from tests.support.hostile import Hostile, assert_error, assert_rejected
from tests.support.live import serve

JSON = {"content-type": "application/json"}
EVENT = json.dumps({"name": "test/chain", "data": {}}).encode()


@pytest.fixture(autouse=True)
def _settled(hostile: Hostile) -> Iterator[None]:
    hostile.settle()
    yield
    hostile.assert_serving()


def port_of(hostile: Hostile) -> int:
    return int(hostile.server.url.rsplit(":", 1)[1])


def posts(hostile: Hostile) -> list[tuple[str, bytes]]:
    """Every POST endpoint with a body it would accept (cancel: the sleeping run)."""
    return [
        ("/api/events", EVENT),
        ("/e/some-key", EVENT),
        ("/api/functions/chain/invoke", b'{"data": {}}'),
        (f"/api/runs/{hostile.completed}/rerun", b""),
        (f"/api/runs/{hostile.sleeping}/cancel", b""),
    ]


# -- Content-Type -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "text/plain;charset=UTF-8",  # what fetch() sends for a string body
        "application/x-www-form-urlencoded",  # curl -d, an HTML form
        "multipart/form-data; boundary=x",
        "application/jsonx",
    ],
)
def test_a_post_that_is_not_json_is_403_and_changes_nothing(
    hostile: Hostile, content_type: str | None
) -> None:
    """Every POST endpoint, with a body it would accept as JSON, or with none: refused."""
    for path, body in posts(hostile):
        before = hostile.state()
        headers = {} if content_type is None else {"content-type": content_type}
        response = hostile.client.post(path, content=body, headers=headers)
        code, message = assert_rejected(hostile, response, before, 403)
        assert code == "unsupported_media_type", path
        assert "Content-Type: application/json" in message
        shown = "no Content-Type" if content_type is None else repr(content_type)
        assert shown in message
    assert hostile.server.get(f"/api/runs/{hostile.sleeping}")["status"] == "sleeping"


def test_the_inngest_api_says_its_status_in_the_body_too(hostile: Hostile) -> None:
    response = hostile.client.post("/e/key", content=EVENT, headers={"content-type": "text/plain"})
    assert response.status_code == 403
    assert response.json()["status"] == 403


def test_two_content_types_are_refused(hostile: Hostile) -> None:
    before = hostile.state()
    headers = [("content-type", "application/json"), ("content-type", "text/plain")]
    response = hostile.client.post("/api/events", content=EVENT, headers=headers)
    code, _ = assert_rejected(hostile, response, before, 403)
    assert code == "unsupported_media_type"


def test_a_bodiless_cancel_saying_json_cancels(hostile: Hostile) -> None:
    run_id = hostile.server.start("test/sleep")
    hostile.server.wait_run(run_id, "sleeping")
    response = hostile.client.post(f"/api/runs/{run_id}/cancel", headers=JSON)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"


# -- Origin -------------------------------------------------------------------------------


def foreign_origins(port: int) -> list[str]:
    return [
        "https://evil.example",
        "http://evil.example",
        f"http://evil.example:{port}",
        "null",  # a sandboxed iframe, a file:// page
        f"http://127.0.0.1:{port + 1}",  # another port is another origin
        f"https://127.0.0.1:{port}",  # another scheme too
        f"http://localhost:{port}",  # the server, but not under the name this request used
        f"http://127.0.0.1.evil.example:{port}",
        "http://127.0.0.1",  # port 80
        "not a url",
        f"http://127.0.0.1:{port}/path",  # an Origin has no path
    ]


def test_a_post_from_a_foreign_origin_is_403_and_changes_nothing(hostile: Hostile) -> None:
    for origin in foreign_origins(port_of(hostile)):
        for path, body in posts(hostile):
            before = hostile.state()
            response = hostile.client.post(path, content=body, headers={**JSON, "origin": origin})
            code, message = assert_rejected(hostile, response, before, 403)
            assert code == "forbidden_origin", (origin, path)
            assert repr(origin) in message
    assert hostile.server.get(f"/api/runs/{hostile.sleeping}")["status"] == "sleeping"


def test_a_post_from_the_servers_own_origin_is_accepted(hostile: Hostile) -> None:
    port = port_of(hostile)
    for host, origin in [
        (f"127.0.0.1:{port}", f"http://127.0.0.1:{port}"),
        (f"localhost:{port}", f"http://LOCALHOST:{port}"),
        (f"[::1]:{port}", f"http://[::1]:{port}"),
        ("localhost", "http://localhost"),  # no port on either side: both port 80
    ]:
        headers = {**JSON, "origin": origin, "host": host}
        response = hostile.client.post("/api/events", content=EVENT, headers=headers)
        assert response.status_code == 200, (host, origin, response.text)


def test_reads_are_not_refused_for_their_origin(hostile: Hostile) -> None:
    """A page can send a GET anyway, but cannot read the answer (no CORS header)."""
    response = hostile.client.get("/api/runs", headers={"origin": "https://evil.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


# -- Host ---------------------------------------------------------------------------------

BAD_HOSTS = [
    "evil.example",
    "evil.example:8288",
    "127.0.0.1.evil.example",
    "localhost.evil.example",
    "localhost.",
    "127.0.0.2",
    "0.0.0.0",  # not the --host of this server (which binds 127.0.0.1)
    "localhost:notaport",
    "localhost:123456",
    "localhost:65536",
    "[::1",
    "::1",  # a Host must bracket an IPv6 address
    "",
]


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_a_request_not_naming_this_server_is_421(hostile: Hostile, host: str) -> None:
    """Every endpoint, reads included (a rebinding page can read what it gets)."""
    client = hostile.client
    for method, path in [
        ("GET", "/health"),
        ("GET", "/api/events"),
        ("GET", "/api/stream"),
        ("GET", f"/api/runs/{hostile.completed}/fixture"),
        ("GET", "/no/such/path"),
    ]:
        response = client.request(method, path, headers={"host": host})
        code, message = assert_error(response, 421)
        assert code == "misdirected_request" and "--allow-host" in message
        assert repr(host) in message
    before = hostile.state()
    response = client.post("/api/events", content=EVENT, headers={**JSON, "host": host})
    code, _ = assert_rejected(hostile, response, before, 421)
    assert code == "misdirected_request"


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "LocalHost", "[::1]", "localhost:1", "[::1]:8288"]
)
def test_the_loopback_names_are_answered_with_any_port(hostile: Hostile, host: str) -> None:
    response = hostile.client.get("/api/events", params={"limit": 1}, headers={"host": host})
    assert response.status_code == 200, response.text
    with hostile.client.stream("GET", "/api/stream", headers={"host": host}) as stream:
        assert stream.status_code == 200
        assert next(stream.iter_lines()) == ": connected"


def test_a_server_answers_its_own_and_allowed_names(tmp_path: Path) -> None:
    """``--host`` and ``--allow-host`` add names; loopback stays; others are still a 421."""
    hosts = allowed_hosts("192.168.1.20", ["dev.example", "[fd00::1]"])
    with serve(tmp_path / "dev.db", hosts=list(hosts)) as server:
        port = server.url.rsplit(":", 1)[1]
        for name in ["192.168.1.20", "dev.example", "DEV.Example", "[fd00::1]", "localhost"]:
            assert server.client.get("/health", headers={"host": name}).status_code == 200
            headers = {**JSON, "host": f"{name}:{port}", "origin": f"http://{name}:{port}"}
            response = server.client.post("/api/events", content=EVENT, headers=headers)
            assert response.status_code == 200, (name, response.text)
        response = server.client.get("/health", headers={"host": "other.example"})
        assert response.status_code == 421
        assert "dev.example" in response.json()["error"]["message"]


# -- request bodies ----------------------------------------------------------------------

NOT_OBJECTS: list[tuple[bytes, str]] = [
    (b"0", "a number (0)"),
    (b"false", "a boolean (false)"),
    (b'""', 'a string ("")'),
    (b"[]", "an array ([])"),
    (b"null", "null"),
    (b"[1, 2]", "an array ([1, 2])"),
    (b'"x" ', 'a string ("x")'),
]


@pytest.mark.parametrize(("body", "named"), NOT_OBJECTS)
def test_bodies_that_are_not_objects_are_400(hostile: Hostile, body: bytes, named: str) -> None:
    """invoke, cancel and rerun take a JSON object or nothing: falsy values included."""
    for path in [
        "/api/functions/chain/invoke",
        f"/api/runs/{hostile.sleeping}/cancel",
        f"/api/runs/{hostile.completed}/rerun",
    ]:
        before = hostile.state()
        response = hostile.client.post(path, content=body, headers=JSON)
        code, message = assert_rejected(hostile, response, before, 400)
        assert code == "invalid_body", path
        assert named in message and "JSON object" in message, message
    assert hostile.server.get(f"/api/runs/{hostile.sleeping}")["status"] == "sleeping"


@pytest.mark.parametrize("data", [b"null", b"0", b"[]", b'"x"'])
def test_invoke_data_that_is_not_an_object_is_400(hostile: Hostile, data: bytes) -> None:
    before = hostile.state()
    response = hostile.client.post(
        "/api/functions/chain/invoke", content=b'{"data": ' + data + b"}", headers=JSON
    )
    code, message = assert_rejected(hostile, response, before, 400)
    assert code == "invalid_body" and "'data'" in message


def test_a_bodiless_invoke_saying_json_starts_a_run(hostile: Hostile) -> None:
    response = hostile.client.post("/api/functions/chain/invoke", headers=JSON)
    assert response.status_code == 200, response.text
    hostile.server.wait_run(response.json()["run_id"], "completed")


def test_every_state_changing_route_is_guarded(hostile: Hostile) -> None:
    """The guard checks POSTs: a route taking another unsafe method would slip through."""
    methods: set[str] = set()
    for route in hostile.server.app.routes:
        methods |= set(getattr(route, "methods", None) or ())
    assert methods - {"GET", "HEAD"} <= GUARDED_METHODS, methods


def test_a_refused_request_leaves_the_connection_usable(hostile: Hostile) -> None:
    """The refusal does not read the body; the next request on the connection still works."""
    with httpx.Client(base_url=hostile.server.url, timeout=5) as client:
        for _ in range(3):
            big = b'{"name": "a", "data": {"s": "' + b"x" * 200_000 + b'"}}'
            refused = client.post("/api/events", content=big)
            assert refused.status_code == 403
            ok: Any = client.get("/health")
            assert ok.status_code == 200
