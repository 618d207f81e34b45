"""An in-memory :class:`~durable._stores.base.Store`, for tests and ``durable.testing``."""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from .base import (
    EventRecord,
    Lease,
    LogRecord,
    RunRecord,
    RunStatus,
    StepRecord,
    StepStatus,
    WaitRecord,
)
from .one_by_one import claim_event_ids_one_by_one, claim_runs_one_by_one
from .transaction import Transactions


class MemoryStore(Transactions):
    """Dictionaries behind the Store protocol. Records are copied in and out, like a database."""

    def __init__(self) -> None:
        self._event_claims: dict[str, float] = {}  #: event id -> when it was claimed
        self._servers: dict[str, float] = {}  #: live servers, with their last heartbeat
        self._owners: dict[str, tuple[str, int]] = {}  #: run id -> (server id, epoch)
        self._epochs: dict[str, int] = {}  #: run id -> its last epoch
        #: runs made ready while a server held them: due when released (run id -> when)
        self._rerun_at: dict[str, float] = {}
        self._runs: dict[str, RunRecord] = {}
        self._steps: dict[str, dict[str, StepRecord]] = defaultdict(dict)
        self._events: list[EventRecord] = []
        self._events_by_id: dict[str, EventRecord] = {}
        self._idempotency: dict[tuple[str, str], tuple[str, float]] = {}
        self._crons: dict[tuple[str, str], float] = {}
        self._waits: dict[str, dict[tuple[str, str], WaitRecord]] = defaultdict(dict)
        self._logs: dict[str, list[LogRecord]] = defaultdict(list)
        #: flow control: slot key -> holding run ids; GCRA key -> theoretical arrival time
        self._holds: dict[str, set[str]] = defaultdict(set)
        self._gcra: dict[str, float] = {}
        #: (function, key) -> (run id, first_at, due_at) / (run id, size) / run id
        self._debounces: dict[tuple[str, str], tuple[str, float, float]] = {}
        self._batches: dict[tuple[str, str], tuple[str, int]] = {}
        self._singletons: dict[tuple[str, str], str] = {}

    def insert_run(self, run: RunRecord) -> None:
        if run.run_id in self._runs:
            raise KeyError(f"run {run.run_id!r} already exists")
        self._runs[run.run_id] = copy.deepcopy(run)

    def update_run(self, run: RunRecord) -> None:
        self._runs[run.run_id] = copy.deepcopy(run)

    def end_run(self, run: RunRecord) -> bool:
        stored = self._runs.get(run.run_id)
        if stored is None or stored.status.terminal:
            return False
        self._runs[run.run_id] = copy.deepcopy(run)
        self._rerun_at.pop(run.run_id, None)
        return True

    def make_ready(self, run_id: str, now: float) -> bool:
        run = self._runs.get(run_id)
        if run is None or run.status.terminal:
            return False
        if run_id in self._owners:
            self._rerun_at.setdefault(run_id, now)
        else:
            run.ready_at = now if run.ready_at is None else min(run.ready_at, now)
        return True

    def get_run(self, run_id: str) -> RunRecord | None:
        run = self._runs.get(run_id)
        return copy.deepcopy(run) if run is not None else None

    def list_runs(
        self,
        *,
        status: str | None = None,
        function_id: str | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> list[RunRecord]:
        runs = sorted(self._runs.values(), key=lambda r: (r.created_at, r.run_id), reverse=True)
        if before is not None:
            if before not in self._runs:
                return []
            anchor = self._runs[before]
            runs = [
                r for r in runs if (r.created_at, r.run_id) < (anchor.created_at, anchor.run_id)
            ]
        picked = [
            r
            for r in runs
            if (status is None or r.status == status)
            and (function_id is None or r.function_id == function_id)
        ]
        return [copy.deepcopy(r) for r in picked[:limit]]

    def register_server(self, server_id: str, now: float) -> None:
        self._servers[server_id] = now

    def reap_server(self, server_id: str, now: float) -> int:
        self._servers.pop(server_id, None)
        handed_back = 0
        for run_id, (owner, _epoch) in list(self._owners.items()):
            if owner != server_id:
                continue
            del self._owners[run_id]
            self._rerun_at.pop(run_id, None)
            run = self._runs.get(run_id)
            if run is not None and not run.status.terminal:
                run.ready_at = now
                handed_back += 1
        return handed_back

    def claim_run(self, run_id: str, server_id: str) -> Lease | None:
        owner = self._owners.get(run_id)
        if run_id not in self._runs or (owner is not None and owner[0] != server_id):
            return None
        epoch = self._epochs.get(run_id, 0) + 1
        self._epochs[run_id] = epoch
        self._owners[run_id] = (server_id, epoch)
        return Lease(run_id, server_id, epoch)

    def claim_runs(self, run_ids: Sequence[str], server_id: str) -> dict[str, Lease]:
        return claim_runs_one_by_one(self.claim_run, run_ids, server_id)

    def holds_lease(self, lease: Lease) -> bool:
        run = self._runs.get(lease.run_id)
        return (
            self._owners.get(lease.run_id) == (lease.server_id, lease.epoch)
            and run is not None
            and not run.status.terminal
        )

    def held_leases(self, leases: Sequence[Lease]) -> set[str]:
        return {lease.run_id for lease in leases if self.holds_lease(lease)}

    def release_run(self, lease: Lease) -> None:
        if self._owners.get(lease.run_id) != (lease.server_id, lease.epoch):
            return
        del self._owners[lease.run_id]
        rerun_at = self._rerun_at.pop(lease.run_id, None)
        run = self._runs.get(lease.run_id)
        if rerun_at is not None and run is not None and not run.status.terminal:
            run.ready_at = rerun_at if run.ready_at is None else min(run.ready_at, rerun_at)

    def ready_runs(self, now: float, limit: int) -> list[RunRecord]:
        due = [
            r
            for r in self._runs.values()
            if r.ready_at is not None and r.ready_at <= now and not r.status.terminal
        ]
        due.sort(key=lambda r: ((r.ready_at or 0.0) - r.priority, r.created_at))
        return [copy.deepcopy(r) for r in due[:limit]]

    def next_ready_at(self) -> float | None:
        times = [
            r.ready_at
            for r in self._runs.values()
            if r.ready_at is not None and not r.status.terminal
        ]
        return min(times) if times else None

    def resume_interrupted(self, now: float) -> int:
        count = 0
        for run in self._runs.values():
            if run.ready_at is None and run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
                run.ready_at = now
                count += 1
        return count

    def upsert_step(self, step: StepRecord) -> None:
        self._steps[step.run_id][step.key] = copy.deepcopy(step)

    def get_steps(
        self,
        run_id: str,
        *,
        statuses: Collection[StepStatus] | None = None,
        claim: Lease | None = None,
    ) -> list[StepRecord]:
        steps = sorted(self._steps.get(run_id, {}).values(), key=lambda s: s.position)
        return [copy.deepcopy(s) for s in steps if statuses is None or s.status in statuses]

    def insert_event(self, event: EventRecord) -> None:
        record = copy.deepcopy(event)
        self._events.append(record)
        self._events_by_id.setdefault(record.id, record)

    def get_event(self, event_id: str) -> EventRecord | None:
        event = self._events_by_id.get(event_id)
        return copy.deepcopy(event) if event is not None else None

    def list_events(self, *, name: str | None = None, limit: int = 50) -> list[EventRecord]:
        events = [e for e in reversed(self._events) if name is None or e.name == name]
        return [copy.deepcopy(e) for e in events[:limit]]

    def events_since(self, name: str, since: float) -> list[EventRecord]:
        return [
            copy.deepcopy(e)
            for e in self._events
            if e.name == name and e.received_at >= since and e.skipped is None
        ]

    def lock_event_names(self, names: Sequence[str], *, exclusive: bool) -> None:
        """Nothing to lock: one writer at a time."""

    def add_wait(self, wait: WaitRecord) -> None:
        self.remove_wait(wait.run_id, wait.step_key)
        self._waits[wait.event_name][(wait.run_id, wait.step_key)] = copy.deepcopy(wait)

    def remove_wait(self, run_id: str, step_key: str) -> None:
        for waits in self._waits.values():
            waits.pop((run_id, step_key), None)

    def waits_for(
        self, event_name: str, matches: Mapping[str, str] | None = None
    ) -> list[WaitRecord]:
        waits = sorted(self._waits.get(event_name, {}).values(), key=lambda w: w.since)
        if matches is not None:
            waits = [
                w
                for w in waits
                if w.match_field is None or matches.get(w.match_field) == w.match_value
            ]
        return [copy.deepcopy(w) for w in waits]

    def wait_match_fields(self, event_name: str) -> list[str]:
        fields = {w.match_field for w in self._waits.get(event_name, {}).values()}
        return sorted(f for f in fields if f is not None)

    def remove_waits(self, run_id: str) -> None:
        for waits in self._waits.values():
            for key in [k for k in waits if k[0] == run_id]:
                del waits[key]

    def claim_idempotency(
        self, function_id: str, key: str, run_id: str, *, now: float, window: float
    ) -> str | None:
        claim = self._idempotency.get((function_id, key))
        if claim is not None and now - claim[1] < window:
            return claim[0]
        self._idempotency[(function_id, key)] = (run_id, now)
        return None

    def claim_event_id(self, event_id: str, *, now: float, window: float) -> bool:
        claimed_at = self._event_claims.get(event_id)
        if claimed_at is not None and now - claimed_at < window:
            return False
        self._event_claims[event_id] = now
        return True

    def claim_event_ids(self, event_ids: Sequence[str], *, now: float, window: float) -> list[bool]:
        return claim_event_ids_one_by_one(self.claim_event_id, event_ids, now, window)

    def advance_cron(self, function_id: str, cron: str, expected: float, next_at: float) -> bool:
        if self._crons.get((function_id, cron)) != expected:
            return False
        self._crons[(function_id, cron)] = next_at
        return True

    def get_cron(self, function_id: str, cron: str) -> float | None:
        return self._crons.get((function_id, cron))

    def set_cron(self, function_id: str, cron: str, next_at: float) -> None:
        self._crons[(function_id, cron)] = next_at

    def expired_deadlines(self, now: float) -> list[RunRecord]:
        return [
            copy.deepcopy(r)
            for r in self._runs.values()
            if r.deadline_at is not None and r.deadline_at <= now and not r.status.terminal
        ]

    def next_deadline_at(self) -> float | None:
        times = [
            r.deadline_at
            for r in self._runs.values()
            if r.deadline_at is not None and not r.status.terminal
        ]
        return min(times) if times else None

    def add_logs(self, lines: list[LogRecord]) -> None:
        for line in lines:
            self._logs[line.run_id].append(copy.deepcopy(line))

    def get_logs(self, run_id: str) -> list[LogRecord]:
        return [copy.deepcopy(line) for line in self._logs.get(run_id, [])]

    def commit(self) -> bool:
        """Nothing to do: every write is already visible (and never refused)."""
        return True

    def rollback(self) -> None:
        """Nothing to undo: the memory store never refuses a write, so no caller rolls back."""

    def probe_write(self) -> None:
        """A write always succeeds here."""

    def close(self) -> None:
        """Nothing to release."""

    # -- flow control -----------------------------------------------------------------------

    def acquire_slots(self, run_id: str, slots: Sequence[tuple[str, int]]) -> bool:
        wanted = [(k, n) for k, n in slots if run_id not in self._holds.get(k, ())]
        if any(len(self._holds.get(k, ())) >= n for k, n in wanted):
            return False
        for key, _ in wanted:
            self._holds[key].add(run_id)
        return True

    def release_slots(self, run_id: str) -> None:
        for key in [k for k, runs in self._holds.items() if run_id in runs]:
            self._holds[key].discard(run_id)
            if not self._holds[key]:
                del self._holds[key]

    def slots_in_use(self, key: str) -> int:
        return len(self._holds.get(key, ()))

    def gcra_take(self, key: str, now: float, interval: float, tolerance: float) -> float:
        tat = max(self._gcra.get(key, now), now)
        if tat - now > tolerance:
            return tat - now - tolerance
        self._gcra[key] = tat + interval
        return 0.0

    def gcra_reserve(self, key: str, now: float, interval: float, tolerance: float) -> float:
        before = max(self._gcra.get(key, now), now)
        self._gcra[key] = before + interval
        return max(0.0, before - tolerance - now)

    def debounce_push(
        self,
        function_id: str,
        key: str,
        run_id: str,
        *,
        now: float,
        period: float,
        timeout: float | None,
    ) -> tuple[str, float]:
        held = self._debounces.get((function_id, key))
        holder, first = (run_id, now) if held is None else (held[0], held[1])
        due = now + period if timeout is None else min(now + period, first + timeout)
        self._debounces[(function_id, key)] = (holder, first, due)
        return holder, due

    def debounce_take(self, function_id: str, key: str, run_id: str) -> None:
        held = self._debounces.get((function_id, key))
        if held is not None and held[0] == run_id:
            del self._debounces[(function_id, key)]

    def batch_push(
        self, function_id: str, key: str, run_id: str, *, max_size: int
    ) -> tuple[str, int]:
        holder, size = self._batches.get((function_id, key), (run_id, 0))
        size += 1
        if size >= max_size:
            self._batches.pop((function_id, key), None)
        else:
            self._batches[(function_id, key)] = (holder, size)
        return holder, size

    def batch_close(self, function_id: str, key: str, run_id: str) -> None:
        held = self._batches.get((function_id, key))
        if held is not None and held[0] == run_id:
            del self._batches[(function_id, key)]

    def singleton_claim(self, function_id: str, key: str, run_id: str) -> str | None:
        holder = self._singletons.setdefault((function_id, key), run_id)
        return None if holder == run_id else holder

    def singleton_release(self, function_id: str, key: str, run_id: str) -> None:
        if self._singletons.get((function_id, key)) == run_id:
            del self._singletons[(function_id, key)]

    def set_run_events(self, run_id: str, event: dict[str, Any], events: list[Any]) -> None:
        run = self._runs[run_id]
        run.event, run.events = copy.deepcopy(event), copy.deepcopy(events)

    # -- liveness -----------------------------------------------------------------------

    def heartbeat(self, server_id: str, now: float) -> bool:
        if server_id not in self._servers:
            return False
        self._servers[server_id] = now
        return True

    def reap_dead(self, now: float, dead_after: float) -> int:
        dead = [server for server, seen in self._servers.items() if seen < now - dead_after]
        return sum(self.reap_server(server, now) for server in dead)

    # -- retention and figures ------------------------------------------------------------

    def delete_expired(self, before: float, limit: int, *, claims_before: float) -> int:
        old = [
            run_id
            for run_id, run in self._runs.items()
            if run.status.terminal and run.ended_at is not None and run.ended_at < before
        ][:limit]
        for run_id in old:
            del self._runs[run_id]
            self._steps.pop(run_id, None)
            self._logs.pop(run_id, None)
            self.remove_waits(run_id)
        deleted = len(old)
        expired = [e for e in self._events if e.received_at < before][: max(0, limit - deleted)]
        if expired:
            gone = {id(event) for event in expired}
            self._events = [e for e in self._events if id(e) not in gone]
            for event in expired:
                if self._events_by_id.get(event.id) is event:
                    del self._events_by_id[event.id]
                    later = next((e for e in self._events if e.id == event.id), None)
                    if later is not None:
                        self._events_by_id[event.id] = later
            deleted += len(expired)
        for event_id in [k for k, at in self._event_claims.items() if at < claims_before]:
            del self._event_claims[event_id]
            deleted += 1
        for key in [k for k, (_, at) in self._idempotency.items() if at < claims_before]:
            del self._idempotency[key]
            deleted += 1
        return deleted

    def count_runs_by_status(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for run in self._runs.values():
            counts[run.status.value] += 1
        return dict(counts)
