"""Messages between the execution core (next to user code) and the orchestrator (the host).

An execution is one pass of a run's handler. The host hands the core an
:class:`ExecutionRequest` (trigger event, memoized step history); the core re-enters the
handler and, for every step that is not memoized, asks the host through
:meth:`ExecutionHost.checkpoint` with one of the ``*Request`` / ``Step*`` messages below. The
host commits and answers with a :class:`Reply`. When the handler ends or every branch of it
is parked, the core returns an :class:`ExecutionResult`.

The same messages cross the pipe between the dev server and its worker processes, so they
are plain frozen dataclasses of JSON-ready fields. One round trip per step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol


class StepKind(StrEnum):
    """What a step does; the opcodes of the protocol."""

    RUN = "run"
    SLEEP = "sleep"
    WAIT_FOR_EVENT = "wait_for_event"
    INVOKE = "invoke"
    SEND_EVENT = "send_event"


class MemoState(StrEnum):
    """How the core must treat a step found in the history."""

    COMPLETED = "completed"  #: return ``output``
    FAILED = "failed"  #: raise ``StepError`` from ``error``
    PENDING = "pending"  #: not resolved yet (sleeping, waiting, retry not due): park
    RETRY = "retry"  #: a retry is due: run the body again with ``attempts`` as the attempt


@dataclass(frozen=True, slots=True)
class MemoStep:
    """A step of the run's history as the core needs it."""

    key: str
    kind: str | None  #: None for a mocked step (testing, replay): any kind may claim it
    state: MemoState
    output: Any = None
    error: Mapping[str, Any] | None = None
    attempts: int = 0  #: attempts made so far


@dataclass(frozen=True, slots=True)
class ExecutionRequest:
    """Everything the core needs to run one pass of a handler."""

    run_id: str
    function_id: str
    event: Mapping[str, Any]
    events: tuple[Mapping[str, Any], ...]
    steps: Mapping[str, MemoStep]
    attempt: int = 0  #: attempt of the handler body (errors outside steps)
    state_bytes: int = 0  #: bytes of run state already stored (event + step outputs)
    step_count: int = 0  #: steps already in the history
    #: results standing in for steps not yet in the history (testing mocks, replay fixtures)
    mocks: Mapping[str, MemoStep] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StepStarted:
    """A ``step.run`` attempt began (a notice, no reply): live views, crash attribution."""

    key: str
    id: str
    attempt: int
    started_at: float
    seq: int = 0


@dataclass(frozen=True, slots=True)
class StepCompleted:
    """A ``step.run`` body returned; ``output`` is its JSON text."""

    key: str
    id: str
    output: str
    attempt: int
    started_at: float
    ended_at: float
    kind: StepKind = StepKind.RUN
    seq: int = 0  #: call order of the step's key in this pass


@dataclass(frozen=True, slots=True)
class StepFailed:
    """A ``step.run`` body raised. The host decides: retry later, or fail the step."""

    key: str
    id: str
    error: Mapping[str, Any]
    attempt: int
    started_at: float
    ended_at: float
    retriable: bool = True
    retry_at: float | None = None  #: from ``RetryAfterError``: epoch seconds
    kind: StepKind = StepKind.RUN
    seq: int = 0  #: call order of the step's key in this pass


@dataclass(frozen=True, slots=True)
class SleepRequest:
    """``step.sleep`` / ``step.sleep_until``: park until ``until`` (epoch seconds)."""

    key: str
    id: str
    until: float
    seq: int = 0  #: call order of the step's key in this pass


@dataclass(frozen=True, slots=True)
class WaitRequest:
    """``step.wait_for_event``: park until a matching event or ``timeout_at``."""

    key: str
    id: str
    event: str
    timeout_at: float
    if_: str | None = None
    seq: int = 0  #: call order of the step's key in this pass


@dataclass(frozen=True, slots=True)
class InvokeRequest:
    """``step.invoke``: start ``function_id`` with ``data`` and park until it ends."""

    key: str
    id: str
    function_id: str
    data: Mapping[str, Any]
    timeout_at: float | None = None
    seq: int = 0  #: call order of the step's key in this pass


@dataclass(frozen=True, slots=True)
class SendEventRequest:
    """``step.send_event``: store these (already validated) events exactly once."""

    key: str
    id: str
    events: tuple[Mapping[str, Any], ...]
    seq: int = 0  #: call order of the step's key in this pass


Checkpoint = (
    StepCompleted | StepFailed | SleepRequest | WaitRequest | InvokeRequest | SendEventRequest
)


@dataclass(frozen=True, slots=True)
class Reply:
    """The host's answer to a checkpoint.

    ``continue``: go on (with ``output`` for steps resolved at once); ``park``: this branch
    waits for a later execution; ``fail``: raise ``StepError`` from ``error``; ``stop``: the
    run was cancelled, start nothing more.
    """

    action: Literal["continue", "park", "fail", "stop"]
    output: Any = None
    error: Mapping[str, Any] | None = None


CONTINUE = Reply("continue")
PARK = Reply("park")
STOP = Reply("stop")


@dataclass(frozen=True, slots=True)
class LogLine:
    """One ``ctx.logger`` line, for the run's stored log."""

    level: str
    message: str
    ts: float
    step_key: str | None = None


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """How one pass of the handler ended.

    ``completed`` (``output`` is JSON text), ``failed`` (for good: ``error``), ``errored``
    (an error outside steps; the host may retry the body), ``suspended`` (every branch is
    parked; ``reenter`` asks to be run again at once), ``stopped`` (cancelled).
    """

    status: Literal["completed", "failed", "errored", "suspended", "stopped"]
    output: str | None = None
    error: Mapping[str, Any] | None = None
    reenter: bool = False


class PassInterrupted(Exception):
    """A pass was cut short through no fault of the run (a worker was replaced).

    The orchestrator runs the pass again at once, without counting an attempt.
    """


class PassCrashed(Exception):
    """The process running a pass ended because of this run: charge its steps in flight.

    ``name`` is the error name the failed attempts get (``WorkerDied``, ``WorkerBlocked``);
    ``step_keys``, when known, are the only steps to charge (else every step in flight).
    """

    def __init__(
        self, message: str, *, name: str = "WorkerDied", step_keys: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.name = name
        self.step_keys = step_keys


class ExecutionHost(Protocol):
    """What the core needs from the orchestrator while a handler runs."""

    def is_cancelled(self) -> bool:
        """True once the run was cancelled: no step may start."""
        ...

    async def checkpoint(self, message: Checkpoint) -> Reply:
        """Commit a step outcome or request, and say how the handler goes on."""
        ...

    def log(self, line: LogLine) -> None:
        """Record a log line of the run (fire and forget)."""
        ...

    def step_started(self, notice: StepStarted) -> Awaitable[None] | None:
        """A step body is about to run: nothing is answered.

        A host may return an awaitable: the body starts once it is done. The worker's host
        does, so that the notice is on the socket before the body runs (a body that kills the
        process is known by it) while the notices of the passes resuming together still
        share one write.
        """
        ...


class Executor(Protocol):
    """The one interface through which orchestration reaches user code.

    In process (``durable.testing``) it calls the core directly; in the dev server it
    forwards the request to a worker process.
    """

    async def execute(self, request: ExecutionRequest, host: ExecutionHost) -> ExecutionResult:
        """Run one pass of the handler of ``request.function_id``."""
        ...

    def cancel_run(self, run_id: str) -> None:
        """``run_id`` was cancelled (and that is committed): stop a pass of it in flight.

        An executor whose handlers poll :meth:`ExecutionHost.is_cancelled` between steps
        (the in-process one) has nothing more to do.
        """
        ...
