"""The pieces of SPEC section 10 and of ``/metrics``, alone: which addresses need a key, the
constant-time key check, the Prometheus text."""

from __future__ import annotations

import re

import pytest

from durable.devserver.guard import is_loopback, key_problem, same_key
from durable.devserver.metrics import LATENCY_BUCKETS, Metrics


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_addresses_need_no_key(host: str) -> None:
    assert is_loopback(host)
    assert key_problem("durable start", host, None) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "example.com"])
def test_other_addresses_need_a_key(host: str) -> None:
    assert not is_loopback(host)
    problem = key_problem("durable start", host, None)
    assert problem is not None and "--signing-key" in problem and host in problem
    assert key_problem("durable start", host, "k") is None


def test_keys_compare_whole() -> None:
    assert same_key("abc", "abc")
    assert not same_key("abc", "abd") and not same_key("ab", "abc") and not same_key("", "a")


def test_metrics_count_steps_and_time_them() -> None:
    now = [0.0]
    metrics = Metrics(lambda: {"completed": 2, "queued": 3}, lambda: 1, clock=lambda: now[0])
    metrics("step", {"run_id": "r", "key": "a", "status": "running"})
    now[0] = 0.02
    metrics("step", {"run_id": "r", "key": "a", "status": "completed"})
    metrics("run", {"run_id": "r", "status": "completed"})
    text = metrics.render()
    samples = dict(re.findall(r"^(\S+) (\S+)$", text, re.MULTILINE))
    assert samples['durable_runs{status="completed"}'] == "2"
    assert samples["durable_queue_depth"] == "3"
    assert samples["durable_steps_total"] == "1"
    assert samples["durable_worker_restarts_total"] == "1"
    assert samples['durable_step_latency_seconds_bucket{le="0.01"}'] == "0"
    assert samples['durable_step_latency_seconds_bucket{le="0.025"}'] == "1"
    assert samples['durable_step_latency_seconds_bucket{le="+Inf"}'] == "1"
    assert float(samples["durable_step_latency_seconds_sum"]) == pytest.approx(0.02)
    assert len(re.findall(r"_bucket\{", text)) == len(LATENCY_BUCKETS) + 1
