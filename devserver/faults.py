"""Whom a worker's death is charged to.

One worker process runs the passes of many runs. When it dies (``os._exit`` in a step, a
segfault) or the watchdog ends it (a blocked event loop), only the run that caused it may
lose an attempt:

* the culprit is known (the watchdog saw which step blocked the loop): its pass is charged
  (``WorkerBlocked``), the others are re-run at once, uncharged;
* one pass was in flight: it is the culprit, charged (:class:`WorkerDied`);
* several were: the culprit is unknown. Each pass is re-run uncharged, as a *suspect*
  (:class:`SharedCrash`); the executor runs a suspect's passes alone, one worker each
  (:mod:`durable.devserver.isolation`), where a death has one possible culprit.

So an innocent run never loses an attempt to another's crash, and a step that crashes every
time still fails once its retries are spent (each of its deaths in isolation is charged).
"""

from __future__ import annotations

from dataclasses import dataclass

from durable._engine.protocol import PassCrashed, PassInterrupted


class WorkerDied(PassCrashed):
    """The worker process ended while this run's pass ran in it, and this run is charged."""


class SharedCrash(PassInterrupted):
    """The worker died with several passes in flight: re-run uncharged, as a suspect."""


@dataclass(frozen=True, slots=True)
class Fault:
    """Why a worker ended under its passes: said by the watchdog, else a plain death."""

    message: str
    name: str = "WorkerDied"  #: the error name of the charged attempts
    run_id: str | None = None  #: the run known to have caused it
    step_key: str | None = None  #: its step, if the fault happened in one


def verdicts(fault: Fault | None, code: int | None, runs: dict[int, str]) -> dict[int, Exception]:
    """The exception each pass in flight (``runs``: pass number -> run id) ends with."""
    if fault is not None and fault.run_id is not None:
        keys = (fault.step_key,) if fault.step_key else ()
        return {
            number: (
                WorkerDied(fault.message, name=fault.name, step_keys=keys)
                if run_id == fault.run_id
                else PassInterrupted(f"the worker was replaced: {fault.message}")
            )
            for number, run_id in runs.items()
        }
    message = fault.message if fault else f"the worker process died (exit code {code})"
    name = fault.name if fault else "WorkerDied"
    if len(runs) == 1:
        return {number: WorkerDied(f"{message} during the pass", name=name) for number in runs}
    return {
        number: SharedCrash(f"{message} with {len(runs)} runs in flight; re-run in isolation")
        for number in runs
    }
