"""A server's heartbeat: proof of life, reaping of the dead, and stopping once reaped.

Every ``dead_after / 4`` seconds the server beats (:meth:`Store.heartbeat`) and reaps the
servers that have not beaten for ``dead_after`` (:meth:`Store.reap_dead`: their runs are due
again, for any live server to claim). If its own beat finds it was reaped (it was paused, or
cut off from the database, past ``dead_after``), or (on a store other servers share) it cannot
beat for most of ``dead_after``, it stops: ``on_reaped`` is called once and the loop ends.
Its passes in flight can write nothing more anyway: their leases are stale.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from .._errors import StoreError
from .._stores.base import Store
from .clock import Clock
from .journal import Journal

logger = logging.getLogger("durable.heartbeat")

#: Beats per ``dead_after``: a server misses three before the others reap it.
BEATS_PER_DEAD_AFTER = 4
#: A server that could not beat for this share of ``dead_after`` stops by itself: the others
#: are about to reap it, and it must not be found writing afterwards.
SELF_FENCE_SHARE = 0.75


class Heartbeat:
    """The heartbeat loop of server ``server_id`` over ``store``."""

    def __init__(
        self,
        *,
        store: Store,
        journal: Journal,
        clock: Clock,
        server_id: str,
        dead_after: float,
        on_reaped: Callable[[], None],
        self_fence: bool = True,
    ) -> None:
        if not dead_after > 0:
            raise ValueError(f"dead_after must be > 0 seconds, got {dead_after}")
        self.store = store
        self.journal = journal
        self.clock = clock
        self.server_id = server_id
        self.dead_after = dead_after
        self.interval = dead_after / BEATS_PER_DEAD_AFTER
        self.on_reaped = on_reaped
        #: stop when unable to beat for most of dead_after (others are about to take this
        #: server's runs); False for a store no other server uses (SQLite, memory)
        self.self_fence = self_fence
        self.reaped_others = 0  #: runs handed back from dead servers by this one

    def beat(self) -> bool:
        """One beat and one reaping round; False if this server was reaped. Raises
        :class:`StoreError` if the database refused them."""
        now = self.clock.now()
        if not self.store.heartbeat(self.server_id, now):
            return False
        handed_back = self.store.reap_dead(now, self.dead_after)
        self.journal.flush()  # stores without a side connection beat in the open transaction
        if handed_back:
            self.reaped_others += handed_back
            logger.warning("reaped dead servers: %d run(s) of theirs are due again", handed_back)
        return True

    async def run(self) -> None:
        """Beat until this server is reaped (then call ``on_reaped`` and return)."""
        last_beat = time.monotonic()
        failing = False
        while True:
            try:
                alive = self.beat()
            except StoreError as exc:
                silent = time.monotonic() - last_beat
                alive = not self.self_fence or silent < self.dead_after * SELF_FENCE_SHARE
                if not failing:  # once per outage, not once per beat
                    logger.warning("heartbeat failed: %s (retrying)", exc)
                failing = True
            else:
                if alive:
                    last_beat, failing = time.monotonic(), False
            if not alive:
                logger.error(
                    "server %s was reaped (no heartbeat for %gs): its runs go on elsewhere; "
                    "stopping",
                    self.server_id,
                    self.dead_after,
                )
                self.on_reaped()
                return
            await asyncio.sleep(self.interval)
