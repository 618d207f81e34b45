"""Retention (``--retention``): delete ended runs and events older than the window.

A background task of both ``durable dev`` and ``durable start``. Each round deletes in small
batches (``BATCH`` rows a transaction) and yields to the event loop between batches, so the
scheduler's checkpoints and the HTTP API never wait long; then it sleeps until the next round.
Event-id dedup and idempotency claims are kept for their 24 h windows whatever the retention.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from durable._limits import EVENT_DEDUP_WINDOW_SECONDS, IDEMPOTENCY_WINDOW_SECONDS
from durable._orchestration.clock import Clock
from durable._stores.base import Store

__all__ = ["BATCH", "ROUND_EVERY", "Retention"]

#: Rows deleted per transaction.
BATCH = 500
#: Seconds between rounds.
ROUND_EVERY = 60.0
#: Claims younger than this are kept whatever the retention.
CLAIM_WINDOW = max(EVENT_DEDUP_WINDOW_SECONDS, IDEMPOTENCY_WINDOW_SECONDS)

logger = logging.getLogger("durable.devserver.retention")


class Retention:
    """Deletes what is older than ``keep`` seconds from ``store``, in rounds."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        keep: float,
        *,
        flush: Callable[[], None] = lambda: None,
        batch: int = BATCH,
        every: float = ROUND_EVERY,
    ) -> None:
        if keep <= 0:
            raise ValueError(f"retention must be > 0 seconds (0 keeps everything), got {keep}")
        self.store = store
        self.clock = clock
        self.keep = keep
        self.flush = flush  #: commits the journal's pending writes before a batch
        self.batch = batch
        self.every = every
        self.deleted = 0  #: rows deleted so far

    async def round(self) -> int:
        """Delete everything expired now, a batch at a time; return the rows deleted."""
        now = self.clock.now()
        before = now - self.keep
        claims_before = min(before, now - CLAIM_WINDOW)
        total = 0
        while True:
            self.flush()
            deleted = self.store.delete_expired(before, self.batch, claims_before=claims_before)
            total += deleted
            self.deleted += deleted
            if deleted == 0:
                break
            await asyncio.sleep(0)  # let checkpoints and requests in between batches
        return total

    async def run_forever(self) -> None:
        """A round now, then one every :attr:`every` seconds (on the server's clock)."""
        while True:
            try:
                deleted = await self.round()
                if deleted:
                    logger.info("retention: deleted %d expired row(s)", deleted)
            except Exception:  # a locked or full database: try again next round
                logger.exception("retention: round failed; retrying in %.0fs", self.every)
            await self.clock.sleep_until(self.clock.now() + self.every)
