"""Run ``durable`` under cProfile timed by CPU time (not wall time): ``--profile`` of
``bench/pg_throughput.py``.

    python bench/_profile_server.py OUT.prof start app.py --db ... (the ``durable`` arguments)

Timing by ``time.process_time`` leaves out the time a call spends blocked (waiting for
PostgreSQL's answer, for the event loop's next event), so the profile shows where the server
process spends CPU. Only the main thread is profiled. The stats are written when the server
exits (SIGTERM drains and exits normally).
"""

from __future__ import annotations

import cProfile
import runpy
import sys
import time


def main() -> None:
    out, args = sys.argv[1], sys.argv[2:]
    sys.argv = ["durable", *args]
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    try:
        runpy.run_module("durable.cli.main", run_name="__main__", alter_sys=True)
    except SystemExit:
        pass
    finally:
        profile.disable()
        profile.dump_stats(out)


if __name__ == "__main__":
    main()
