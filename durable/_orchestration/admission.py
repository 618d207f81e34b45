"""Flow control when a run is created (SPEC 7): rate_limit, singleton, debounce, batching.

:func:`admit` runs before a triggered run is stored. It answers one of: a reason string (no
run: ``rate_limited``, ``singleton``), an existing pending run that took the event (debounce:
the last event wins; batch: the event joins the open batch), or None with ``run`` adjusted
(held back for a debounce or a batch, its priority set). Throttle and concurrency apply when
a pass starts (:mod:`durable._orchestration.scheduler`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._define.config import FunctionConfig
from .._stores.base import RunRecord, Store
from .flow import flow_key, priority_of

if TYPE_CHECKING:
    from .runs import Runs

RATE_LIMITED = "rate_limited"
SINGLETON = "singleton"


def admit(runs: Runs, config: FunctionConfig, run: RunRecord) -> RunRecord | str | None:
    """Apply the creation-time flow control of ``config`` to the new ``run`` (not stored)."""
    flow, store, now, event = config.flow, runs.store, run.created_at, run.event
    run.priority = priority_of(config, event)
    if flow.rate_limit is not None:
        rule = flow.rate_limit
        key = f"rate#{config.id}#{flow_key(rule.key, event)}"
        if store.gcra_take(key, now, rule.interval, rule.tolerance) > 0:
            return RATE_LIMITED
    if flow.singleton is not None:
        key = flow_key(flow.singleton.key, event)
        holder = store.singleton_claim(config.id, key, run.run_id)
        if holder is not None and not _pending(runs, holder, started_ok=True):
            store.singleton_release(config.id, key, holder)  # a stale row: its run ended
            holder = store.singleton_claim(config.id, key, run.run_id)
        if holder is not None:
            if flow.singleton.mode == "skip":
                return SINGLETON
            runs.cancel(holder, f"singleton: replaced by run {run.run_id}")
            store.singleton_claim(config.id, key, run.run_id)
    if flow.debounce is not None:
        rule_d = flow.debounce
        key = flow_key(rule_d.key, event)
        holder, due = store.debounce_push(
            config.id, key, run.run_id, now=now, period=rule_d.period, timeout=rule_d.timeout
        )
        if holder != run.run_id and not _pending(runs, holder):
            store.debounce_take(config.id, key, holder)  # a stale row: its run started
            holder, due = store.debounce_push(
                config.id, key, run.run_id, now=now, period=rule_d.period, timeout=rule_d.timeout
            )
        if holder != run.run_id:
            return _replace_event(runs, holder, event, due)
        run.ready_at, run.queued_reason = due, "debounce"
    if flow.batch_events is not None:
        rule_b = flow.batch_events
        if rule_b.if_ is not None and not rule_b.if_.matches({"event": event}):
            return None  # fails the batch's `if`: runs alone, at once
        key = flow_key(rule_b.key, event)
        holder, size = store.batch_push(config.id, key, run.run_id, max_size=rule_b.max_size)
        if holder != run.run_id and not _pending(runs, holder):
            store.batch_close(config.id, key, holder)  # a stale row: its run started
            holder, size = store.batch_push(config.id, key, run.run_id, max_size=rule_b.max_size)
        full = size >= rule_b.max_size
        if holder != run.run_id:
            return _join_batch(runs, holder, event, full)
        if not full:
            run.ready_at, run.queued_reason = now + rule_b.timeout, "batch"
    return None


def _pending(runs: Runs, run_id: str, *, started_ok: bool = False) -> bool:
    """Whether ``run_id`` still holds what a flow-control row says: not ended (and, unless
    ``started_ok``, not started)."""
    held = runs.store.get_run(run_id)
    if held is None or held.status.terminal:
        return False
    return started_ok or held.started_at is None


def _replace_event(runs: Runs, run_id: str, event: dict[str, Any], due: float) -> RunRecord:
    """Debounce: the pending run takes the last event and is due at ``due``."""
    pending = runs.store.get_run(run_id)
    assert pending is not None, f"debounce row names unknown run {run_id}"
    runs.store.set_run_events(run_id, event, [event])
    pending.event, pending.events, pending.ready_at = event, [event], due
    runs.save_run(pending, reason="debounce")
    return pending


def _join_batch(runs: Runs, run_id: str, event: dict[str, Any], full: bool) -> RunRecord:
    """Batch: the event joins the open batch's run; a full batch is due at once."""
    pending = runs.store.get_run(run_id)
    assert pending is not None, f"batch row names unknown run {run_id}"
    pending.events.append(event)
    runs.store.set_run_events(run_id, pending.event, pending.events)
    if full:
        pending.ready_at, pending.queued_reason = runs.clock.now(), None
    runs.save_run(pending, reason=None if full else "batch")
    return pending


def on_start(store: Store, config: FunctionConfig, run: RunRecord) -> None:
    """The first pass of ``run`` starts: its debounce or batch takes no more events."""
    flow = config.flow
    if flow.debounce is not None:
        store.debounce_take(config.id, flow_key(flow.debounce.key, run.event), run.run_id)
    if flow.batch_events is not None:
        store.batch_close(config.id, flow_key(flow.batch_events.key, run.event), run.run_id)


def on_end(store: Store, config: FunctionConfig, run: RunRecord) -> None:
    """``run`` ended: free its singleton (and its debounce or batch, if it never started)."""
    flow = config.flow
    if flow.singleton is not None:
        store.singleton_release(config.id, flow_key(flow.singleton.key, run.event), run.run_id)
    if run.started_at is None:
        on_start(store, config, run)
