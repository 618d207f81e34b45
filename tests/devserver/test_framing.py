"""The worker socket's framing: every string travels, no line is ever over the limit."""

from __future__ import annotations

import asyncio
import functools
import json
import socket
from typing import Any

import pytest

from durable import Durable
from durable._engine.protocol import ExecutionRequest
from durable._engine.wire import request_to_wire
from durable.devserver import worker as worker_module
from durable.devserver.framing import MESSAGE_LIMIT, MessageTooLarge, decode, encode


@pytest.mark.parametrize("text", ["a\udcffb", "\\\udcff", "\ud83d", "plain", "é\udc80€"])
def test_a_lone_surrogate_crosses_the_socket_unchanged(text: str) -> None:
    line = encode({"t": "log", "s": text, "k": {text: [text]}})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    line.decode("utf-8")  # strict UTF-8 on the wire
    assert json.loads(line) == {"t": "log", "s": text, "k": {text: [text]}}
    assert decode(line) == {"t": "log", "s": text, "k": {text: [text]}}


@pytest.mark.parametrize(
    "value",
    [
        2**64,  # orjson refuses it: the standard library writes it
        -(2**63) - 1,
        123456789012345678901234567890,
        2**64 - 1,  # orjson writes it and reads it back as an int
        -(2**63),
        1.5e300,
        0.1,
        {"nested": [True, None, "é", {"a": []}]},
        list(range(5)),
    ],
)
def test_every_value_crosses_the_socket_unchanged(value: Any) -> None:
    """orjson reads an integer beyond 64 bits as a float: such a message goes through the
    standard library both ways, and every value comes back equal and of the same type."""
    message = {"t": "cp", "m": {"output": value, "ids": [value]}}
    back = decode(encode(message))
    assert back == message
    assert type(back["m"]["output"]) is type(value)


def test_a_message_orjson_refuses_is_marked_for_the_standard_library() -> None:
    assert encode({"n": 1}).startswith(b"{")
    line = encode({"n": 2**70, 3: "int key"})
    assert line.startswith(b" {") and json.loads(line) == {"n": 2**70, "3": "int key"}
    assert decode(line) == {"n": 2**70, "3": "int key"}


def test_a_dataclass_in_a_message_is_refused_as_before() -> None:
    """A bug, not data: orjson would write a dataclass as an object; it is refused."""
    with pytest.raises(TypeError):
        encode({"request": ExecutionRequest("r", "f", {}, (), {}, 0, 0, 0)})


def test_a_line_that_is_not_json_is_a_value_error() -> None:
    for line in (b"{not json\n", b" [1,\n", b"\xff\n"):
        with pytest.raises(ValueError):
            decode(line)


def test_a_message_over_the_limit_is_refused_before_it_is_written() -> None:
    with pytest.raises(MessageTooLarge) as caught:
        encode({"blob": "x" * 2_000}, limit=1_000)
    assert caught.value.size > 2_000 and caught.value.limit == 1_000
    assert "worker socket's limit" in str(caught.value)
    assert len(encode({"blob": "x" * 900}, limit=1_000)) <= 1_000
    assert MESSAGE_LIMIT == 64 * 1024 * 1024


app = Durable(id="framing")


@app.function(id="big-step", triggers=[{"event": "go"}], retries=0)
async def big_step(ctx: Any) -> str:
    return str(await ctx.step.run("big", lambda: "y" * 20_000))


async def test_the_worker_turns_a_too_large_checkpoint_into_a_named_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a 10 KB limit a 20 KB step result cannot go out: the step gets a named error
    from the worker itself, and every line the worker wrote fits the limit."""
    limit = 10_000
    monkeypatch.setattr(worker_module, "encode", functools.partial(encode, limit=limit))
    ours, theirs = socket.socketpair()
    reader, our_writer = await asyncio.open_connection(sock=ours)
    _, writer = await asyncio.open_connection(sock=theirs)
    worker = worker_module.Worker(dict(app.functions), writer)
    request = ExecutionRequest(
        run_id="r1",
        function_id="big-step",
        event={"name": "go", "data": {}, "id": "e1", "ts": 0},
        events=(),
        steps={},
        attempt=0,
        state_bytes=0,
        step_count=0,
    )
    await worker._execute(1, request_to_wire(request))
    writer.close()
    lines = []
    while line := await reader.readline():
        assert len(line) <= limit
        lines.append(json.loads(line))
    our_writer.close()
    assert [m["t"] for m in lines] == ["start", "done"]
    result = lines[-1]["result"]
    assert result["status"] == "errored"
    error = result["error"]
    assert error["name"] == "LimitExceededError" and error["limit"] == "message_bytes"
    assert error["step_id"] == "big" and "step 'big'" in error["message"]
