"""CPU time per step of the dev server and of its worker, under many concurrent runs.

Starts ``durable dev`` (no reload, SQLite file), sends ``--runs`` events at once, each starting
a run of 3 no-op steps, and reads the CPU time (user + system, from ``/proc/PID/stat``) of the
server process and of the worker process before and after: wall-clock figures are noisy on a
shared machine, CPU time per step much less so. Several rounds; the medians are printed,
then one JSON line (``make bench`` shows its figures).

With ``--profile DIR`` both processes run under cProfile (a ``sitecustomize`` put on
``PYTHONPATH``) and write ``server-PID.prof`` / ``worker-PID.prof`` into DIR when they exit;
the top functions by own time are printed.

    python bench/step_cpu.py [--runs 1000] [--rounds 3] [--profile DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import statistics
import tempfile
import textwrap
import time
from pathlib import Path

import _repo  # noqa: F401  (puts the repository root on sys.path for tests.support)
from _common import all_finished, last_ended_at, prepare, three_steps_app

from tests.support.harness import DevProcess, wait_for

APP = three_steps_app("bench")

SITECUSTOMIZE = textwrap.dedent(
    """
    import atexit, cProfile, os, sys
    _out = os.environ.get("DURABLE_BENCH_PROFILE")
    if _out:
        _profile = cProfile.Profile()
        _profile.enable()

        def _dump():
            _profile.disable()
            _kind = "worker" if any(a.endswith("worker.py") for a in sys.argv) else "server"
            _profile.dump_stats(os.path.join(_out, f"{_kind}-{os.getpid()}.prof"))

        atexit.register(_dump)
    """
)

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def switches(pid: int) -> int:
    """Context switches of ``pid`` so far (voluntary + involuntary): wake-ups, mostly."""
    total = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if "ctxt_switches:" in line:
            total += int(line.split()[-1])
    return total


def children(pid: int) -> list[int]:
    """The child processes of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


def one_round(root: Path, runs: int, env: dict[str, str]) -> dict[str, float]:
    dev = DevProcess(root, root / "app.py", reload=False, env=env).start()
    try:
        assert dev.process is not None
        server = dev.process.pid
        dev.send([{"name": "bench/three"} for _ in range(10)])  # warm up: worker, code paths
        wait_for(lambda: all_finished(dev, "three", 10), 60, "warm-up", 0.02)
        worker = children(server)[0]
        before = cpu_seconds(server), cpu_seconds(worker)
        woken = switches(server), switches(worker)
        began = time.time()  # the server's clock too: the runs' ended_at are on it
        for start in range(0, runs, 500):
            dev.send([{"name": "bench/three"} for _ in range(min(500, runs - start))])
        wall = last_ended_at(dev, "three", runs + 10) - began
        after = cpu_seconds(server), cpu_seconds(worker)
        woken = switches(server) - woken[0], switches(worker) - woken[1]
    finally:
        dev.stop()
    steps = runs * 3
    return {
        "steps_per_s": steps / wall,
        "server_cpu_us_per_step": (after[0] - before[0]) / steps * 1e6,
        "worker_cpu_us_per_step": (after[1] - before[1]) / steps * 1e6,
        "server_switches_per_step": woken[0] / steps,
        "worker_switches_per_step": woken[1] / steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    prepare()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        env: dict[str, str] = {}
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
            hook = Path(tmp) / "hook"
            hook.mkdir()
            (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
            path = os.environ.get("PYTHONPATH")
            env["PYTHONPATH"] = str(hook) + (os.pathsep + path if path else "")
            env["DURABLE_BENCH_PROFILE"] = str(args.profile.resolve())
            env["DURABLE_FORK_WORKER"] = "0"  # the worker starts under the profiler too
        for number in range(args.rounds):
            root = Path(tmp) / f"round{number}"
            root.mkdir()
            (root / "app.py").write_text(APP)
            results.append(one_round(root, args.runs, env))
            print(" ".join(f"{k}={v:,.2f}" for k, v in results[-1].items()), flush=True)
    medians = {k: round(statistics.median(r[k] for r in results), 2) for k in results[0]}
    print("median: " + " ".join(f"{k}={v:,.2f}" for k, v in medians.items()))
    if args.profile is not None:
        for kind in ("server", "worker"):
            files = sorted(str(p) for p in args.profile.glob(f"{kind}-*.prof"))
            if files:
                print(f"\n==== {kind} ({len(files)} profile(s)) ====")
                pstats.Stats(*files).sort_stats("tottime").print_stats(args.top)
    print(json.dumps({"bench": "step_cpu", "runs": args.runs, "rounds": args.rounds, **medians}))


if __name__ == "__main__":
    main()
