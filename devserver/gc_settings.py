"""The server process's garbage collector: collections sized for a server's steady churn.

With the default thresholds (a young collection every 700 allocations, older ones every 10 of
those) a busy server spends a good part of its CPU in the collector: each step allocates
records, messages and rows (freed by reference counting, but counted), and every older
collection walks the heap of runs in flight. 5,000 runs x 3 no-op steps through
``durable dev`` (``bench/server_overhead.py``'s workload, alternating on one box): 5,868-6,058
steps/s with the defaults, 6,652-7,099 with these (with 1,000 runs, ``bench/step_cpu.py``, the
heap is small and the difference within noise). What was loaded at start (modules, the
functions' configs) is frozen out of every collection. Worker processes keep Python's
defaults: they run the user's code.

Only the real server processes call this (``durable dev``, ``durable start``); a server run
inside a test process leaves that process's collector alone.
"""

from __future__ import annotations

import gc

#: young collections every 50,000 allocations; each older generation every 50 and 100 of those
SERVER_THRESHOLDS = (50_000, 50, 100)


def tune_for_server() -> None:
    """Freeze what is loaded so far and space the collections out (see the module text)."""
    gc.freeze()  # (no collection first: it would cost the restart path milliseconds)
    gc.set_threshold(*SERVER_THRESHOLDS)
