"""An event that starts no run says so: in the API's answer, ``durable send`` and ``--json``."""

from __future__ import annotations

import json

from tests.support.cli import Invoke
from tests.support.live import LiveServer


def test_the_api_says_per_event_which_runs_started_or_why_none(live_server: LiveServer) -> None:
    events = [
        {"name": "test/chain", "id": "e-1"},
        {"name": "test/chain", "id": "e-1"},
        {"name": "nobody/listens", "id": "e-2"},
    ]
    body = live_server.client.post("/api/events", json=events).json()
    assert body["ids"] == ["e-1", "e-1", "e-2"]
    started, duplicate, unheard = body["events"]
    assert started["id"] == "e-1" and len(started["run_ids"]) == 1 and started["skipped"] is None
    assert duplicate == {
        "id": "e-1",
        "run_ids": [],
        "skipped": "duplicate: event id 'e-1' was already received",
    }
    assert unheard == {"id": "e-2", "run_ids": [], "skipped": None}
    inngest = live_server.client.post("/e/key", json={"name": "test/chain"}).json()
    assert set(inngest) == {"ids", "status"}  # Inngest's shape, unchanged


def test_send_says_when_no_run_started(invoke: Invoke) -> None:
    first = invoke("send", "test/chain", "--id", "order-9")
    assert first.exit_code == 0 and first.stdout == "order-9\n" and first.stderr == ""
    again = invoke("send", "test/chain", "--id", "order-9")
    assert again.exit_code == 0 and again.stdout == "order-9\n"
    assert again.stderr == (
        "accepted, no run started: duplicate: event id 'order-9' was already received\n"
    )
    unheard = invoke("send", "nobody/listens")
    assert unheard.exit_code == 0
    assert (
        unheard.stderr == "accepted, no run started: no function is triggered by 'nobody/listens'\n"
    )


def test_send_json_carries_what_each_event_did(invoke: Invoke) -> None:
    first = json.loads(invoke("send", "test/chain", "--id", "order-7", "--json").stdout)
    assert first["ids"] == ["order-7"] and len(first["events"][0]["run_ids"]) == 1
    again = json.loads(invoke("send", "test/chain", "--id", "order-7", "--json").stdout)
    assert again == {
        "ids": ["order-7"],
        "events": [
            {
                "id": "order-7",
                "run_ids": [],
                "skipped": "duplicate: event id 'order-7' was already received",
            }
        ],
    }
