"""Batch claims made one claim at a time: the stores with one writer (memory, SQLite) do all
their batches so, and PostgreSQL a batch of one."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .base import Lease


def claim_runs_one_by_one(
    claim_run: Callable[[str, str], Lease | None], run_ids: Sequence[str], server_id: str
) -> dict[str, Lease]:
    """:meth:`Store.claim_runs <.base.Store.claim_runs>` through ``claim_run``."""
    leases = {run_id: claim_run(run_id, server_id) for run_id in run_ids}
    return {run_id: lease for run_id, lease in leases.items() if lease is not None}


def claim_event_ids_one_by_one(
    claim_event_id: Callable[..., bool], event_ids: Sequence[str], now: float, window: float
) -> list[bool]:
    """:meth:`Store.claim_event_ids <.base.Store.claim_event_ids>` through
    ``claim_event_id``."""
    return [claim_event_id(each, now=now, window=window) for each in event_ids]
