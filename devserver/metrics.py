"""``GET /metrics``: the server's figures in Prometheus text format (exposition 0.0.4).

:class:`Metrics` listens to the orchestrator (step starts and ends: steps total, steps/s, a
step latency histogram) and reads the rest when scraped: runs by status and the queue depth
from the store, worker restarts from the executor.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["LATENCY_BUCKETS", "Metrics"]

#: Upper bounds (seconds) of the step latency histogram's buckets.
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0)
#: Seconds over which steps/s is averaged.
RATE_WINDOW = 10.0
_ENDED = frozenset({"completed", "failed", "errored"})


class Metrics:
    """Counters fed by orchestrator changes, rendered as Prometheus text."""

    def __init__(
        self,
        runs_by_status: Callable[[], dict[str, int]],
        restarts: Callable[[], int],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._runs_by_status = runs_by_status
        self._restarts = restarts
        self._clock = clock
        self.steps_total = 0
        self.step_failures = 0
        self._started: dict[tuple[str, str], float] = {}
        self._recent: deque[float] = deque()
        self.bucket_counts = [0] * len(LATENCY_BUCKETS)
        self.latency_sum = 0.0
        self.latency_count = 0

    def __call__(self, kind: str, change: dict[str, Any]) -> None:
        if kind != "step":
            return
        status = change.get("status")
        where = (str(change.get("run_id")), str(change.get("key")))
        now = self._clock()
        if status == "running":
            self._started[where] = now
            return
        if status not in _ENDED:
            return
        began = self._started.pop(where, None)
        if status == "completed" or status == "failed":
            self.steps_total += 1
            self._recent.append(now)
        if status != "completed":
            self.step_failures += 1
        if began is not None:
            self.observe(now - began)

    def observe(self, seconds: float) -> None:
        """Count one step attempt that took ``seconds``."""
        index = bisect.bisect_left(LATENCY_BUCKETS, seconds)
        if index < len(self.bucket_counts):
            self.bucket_counts[index] += 1
        self.latency_sum += seconds
        self.latency_count += 1

    def steps_per_second(self) -> float:
        """Steps ended per second over the last :data:`RATE_WINDOW` seconds."""
        horizon = self._clock() - RATE_WINDOW
        while self._recent and self._recent[0] < horizon:
            self._recent.popleft()
        return len(self._recent) / RATE_WINDOW

    def render(self) -> str:
        """The exposition text."""
        runs = self._runs_by_status()
        lines = [
            "# HELP durable_runs Runs in the store by status.",
            "# TYPE durable_runs gauge",
            *(
                f'durable_runs{{status="{status}"}} {count}'
                for status, count in sorted(runs.items())
            ),
            "# HELP durable_queue_depth Runs queued, waiting for a pass.",
            "# TYPE durable_queue_depth gauge",
            f"durable_queue_depth {runs.get('queued', 0)}",
            "# HELP durable_steps_total Steps ended (completed or failed) since the start.",
            "# TYPE durable_steps_total counter",
            f"durable_steps_total {self.steps_total}",
            "# HELP durable_step_failures_total Step attempts that failed or errored.",
            "# TYPE durable_step_failures_total counter",
            f"durable_step_failures_total {self.step_failures}",
            "# HELP durable_steps_per_second Steps ended per second over the last 10 s.",
            "# TYPE durable_steps_per_second gauge",
            f"durable_steps_per_second {self.steps_per_second():.3f}",
            "# HELP durable_step_latency_seconds Time of a step attempt, start to checkpoint.",
            "# TYPE durable_step_latency_seconds histogram",
        ]
        cumulative = 0
        for bound, count in zip(LATENCY_BUCKETS, self.bucket_counts, strict=True):
            cumulative += count
            lines.append(f'durable_step_latency_seconds_bucket{{le="{bound}"}} {cumulative}')
        lines += [
            f'durable_step_latency_seconds_bucket{{le="+Inf"}} {self.latency_count}',
            f"durable_step_latency_seconds_sum {self.latency_sum:.6f}",
            f"durable_step_latency_seconds_count {self.latency_count}",
            "# HELP durable_worker_restarts_total Worker processes started to replace a dead one.",
            "# TYPE durable_worker_restarts_total counter",
            f"durable_worker_restarts_total {self._restarts()}",
        ]
        return "\n".join(lines) + "\n"
