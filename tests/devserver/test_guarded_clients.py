"""The project's own clients say ``Content-Type: application/json`` on every POST, bodiless
ones included, so the dev server's guard (SPEC section 10) lets them through: the CLI, the
TUI's client and ``app.send``, each against a real server, every request they send recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from durable import Durable
from durable.cli.main import app as cli
from durable.tui.api import DurableClient, RequestFailed
from tests.support.live import LiveServer, serve


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[httpx.Request]]:
    """Every request any httpx client sends during the test (sync and async)."""
    requests: list[httpx.Request] = []
    sync_send, async_send = httpx.Client.send, httpx.AsyncClient.send

    def record(client: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        requests.append(request)
        return sync_send(client, request, **kwargs)

    async def record_async(
        client: httpx.AsyncClient, request: httpx.Request, **kwargs: Any
    ) -> httpx.Response:
        requests.append(request)
        return await async_send(client, request, **kwargs)

    monkeypatch.setattr(httpx.Client, "send", record)
    monkeypatch.setattr(httpx.AsyncClient, "send", record_async)
    yield requests


def posts(requests: list[httpx.Request]) -> list[httpx.Request]:
    found = [request for request in requests if request.method == "POST"]
    assert found, "no POST was sent"
    return found


def assert_json_posts(requests: list[httpx.Request]) -> None:
    for request in posts(requests):
        assert request.headers.get("content-type") == "application/json", request.url


def sleeping_run(server: LiveServer) -> str:
    run_id = server.start("test/sleep")
    server.wait_run(run_id, "sleeping")
    return run_id


def test_durable_cancel_posts_json_without_a_body(
    live_server: LiveServer, sent: list[httpx.Request]
) -> None:
    run_id = sleeping_run(live_server)
    sent.clear()
    result = CliRunner().invoke(cli, ["cancel", run_id], env={"DURABLE_URL": live_server.url})
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{run_id}: cancelled"
    assert_json_posts(sent)
    assert [request.content for request in posts(sent)] == [b""]


def test_durable_send_posts_json(live_server: LiveServer, sent: list[httpx.Request]) -> None:
    result = CliRunner().invoke(
        cli, ["send", "test/other", "--json"], env={"DURABLE_URL": live_server.url}
    )
    assert result.exit_code == 0, result.output
    assert_json_posts(sent)


async def test_the_tui_client_posts_json(
    live_server: LiveServer, sent: list[httpx.Request]
) -> None:
    run_id = sleeping_run(live_server)
    sent.clear()
    client = DurableClient(live_server.url)
    try:
        assert (await client.cancel(run_id))["status"] == "cancelled"  # no body
        assert (await client.rerun(run_id))["rerun_of"] == run_id
        assert (await client.invoke("pipeline", {"n": 1}))["function_id"] == "pipeline"
        assert len(await client.send({"name": "test/other"})) == 1
    finally:
        await client.aclose()
    assert len(posts(sent)) == 4
    assert_json_posts(sent)


async def test_app_send_posts_json(
    live_server: LiveServer, sent: list[httpx.Request], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DURABLE_URL", live_server.url)
    app = Durable(id="guarded")
    assert len(await app.send({"name": "test/other"})) == 1
    assert len(app.send_sync([{"name": "test/other"}, {"name": "test/other"}])) == 2
    assert len(posts(sent)) == 2
    assert_json_posts(sent)


async def test_the_tui_client_says_why_a_server_refuses_its_host(tmp_path: Path) -> None:
    """A server not answering the URL's name: the health check and the stream both say so."""
    with serve(tmp_path / "dev.db", hosts=["localhost"]) as server:
        client = DurableClient(server.url)  # http://127.0.0.1:PORT, not a name it answers
        try:
            with pytest.raises(RequestFailed) as refused:
                await client.health()
            assert refused.value.status == 421 and "--allow-host" in refused.value.message
            stream = client.stream(min_backoff=0.01)
            kind, info = await stream.__anext__()
            await stream.aclose()
        finally:
            await client.aclose()
    assert kind == "disconnected"
    assert "does not answer to Host '127.0.0.1:" in info["error"] and "HTTP 421" in info["error"]
