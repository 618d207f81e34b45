"""The execution core: re-enter a handler over its step history, sans I/O.

This is the only module that knows replay semantics. One :class:`Execution` is one pass of a
run's handler. Memoized steps return their recorded result at once; a new step runs its body
(or asks the host to sleep, wait, invoke, send) and is checkpointed through the host before
the handler goes on, so the coroutine stays alive across steps: N steps cost O(N).

A branch that cannot go on (a sleep, a wait, a retry not yet due) *parks*. When every branch
of the handler is parked and nothing else is active, the parked branches are interrupted
with :class:`_Suspend`, a ``BaseException`` that user ``except Exception`` blocks cannot
swallow, and the pass ends as ``suspended``. Parking first (rather than interrupting at once)
lets ``asyncio.gather`` of sleeps and waits register all of them in the same pass.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from .._define.durations import format_duration
from .._define.retry_after import retry_at_from
from .._errors import (
    ConfigError,
    LimitExceededError,
    NonDeterminismError,
    NonRetriableError,
    RetryAfterError,
    SerializationError,
    StepError,
    StepTimeout,
)
from .._limits import MAX_RUN_STATE_BYTES, MAX_STEP_OUTPUT_BYTES, MAX_STEPS_PER_RUN
from .._serialization import dumps, encoded_size, loads
from .._stored_errors import error_dict
from .._text import is_text, shown_text, trim_text
from .bodies import TimedOut, call_body
from .current import current_step
from .protocol import (
    Checkpoint,
    ExecutionHost,
    ExecutionRequest,
    ExecutionResult,
    LogLine,
    MemoState,
    MemoStep,
    Reply,
    StepCompleted,
    StepFailed,
    StepKind,
    StepStarted,
)
from .typed import Typed, mock_json, output_json, step_codec, step_json, step_value

if TYPE_CHECKING:
    from .._define.app import DurableFunction
    from .typed_codecs import Codec


#: How many loop iterations must pass with nothing active before a pass is declared parked.
_QUIET_ROUNDS = 4


class _Suspend(BaseException):
    """Interrupts a parked branch: the pass ends and the run resumes later."""


class _Abort(BaseException):
    """Interrupts every branch: the run was cancelled or failed for good."""


class Execution:
    """One pass of a run's handler (see the module docstring)."""

    def __init__(
        self,
        function: DurableFunction,
        request: ExecutionRequest,
        host: ExecutionHost,
        *,
        clock: Callable[[], float],
        checkpointing: bool | None = None,
        isolated: bool = False,
    ) -> None:
        """``isolated``: the handler runs in a process of its own (a dev server worker), so a
        ``KeyboardInterrupt`` raised by its code is its failure, not a stop of this process."""
        self.function = function
        self.request = request
        self.host = host
        self.clock = clock
        config = function.config
        self._checkpointing = config.checkpointing if checkpointing is None else checkpointing
        self._max_runtime = (
            config.max_runtime.total_seconds() if config.max_runtime is not None else None
        )
        self._counts: dict[str, int] = {}
        self._used_keys: set[str] = set()
        self._seq: dict[str, int] = {}
        # Every recorded step, retries and pending ones too: the code before them has run once.
        self._unreplayed = set(request.steps)
        self._active = 0
        self._parked: list[asyncio.Future[None]] = []
        self._probe: asyncio.Task[None] | None = None
        self._suspending = False
        self._reenter = False
        self._fatal: BaseException | None = None
        self._stopped = False
        self._state_bytes = request.state_bytes
        self._step_count = request.step_count
        self._started = clock()
        self._isolated = isolated

    # -- public to the context ----------------------------------------------------------

    @property
    def replaying(self) -> bool:
        """True while the handler is still going over memoized steps (logging is muted)."""
        return bool(self._unreplayed)

    def log(self, level: str, message: str) -> None:
        """Record one log line of the run with the step it came from."""
        step = current_step.get()
        line = LogLine(
            shown_text(level), shown_text(message), self.clock(), step[0] if step else None
        )
        self.host.log(line)

    async def run(self) -> ExecutionResult:
        """Run the handler until it returns, fails, or every branch is parked."""
        from .context import Context

        try:
            output = await self.function.handler(Context(self))
        except asyncio.CancelledError:
            if self._fatal is None and not self._stopped and not self._suspending:
                raise
            return self._interrupted_result()
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt) and not self._isolated:
                raise
            return self._exception_result(exc)
        finally:
            self._release_parked(_Abort)
        if self._fatal is not None or self._stopped or self._suspending:
            return self._interrupted_result()
        try:
            output = output_json(self.function.handler, output, self.request, self.request.run_id)
            text = dumps(
                output,
                what=f"the return value of function {self.function.id!r}",
                run_id=self.request.run_id,
            )
        except SerializationError as exc:
            return ExecutionResult("failed", error=error_dict(exc))
        size = encoded_size(text)
        if self._state_bytes + size > MAX_RUN_STATE_BYTES:
            return ExecutionResult("failed", error=error_dict(self._state_limit(size, None)))
        return ExecutionResult("completed", output=text)

    # -- results ------------------------------------------------------------------------

    def _interrupted_result(self) -> ExecutionResult:
        if self._fatal is not None:
            return ExecutionResult("failed", error=error_dict(self._fatal))
        if self._stopped:
            return ExecutionResult("stopped")
        return ExecutionResult("suspended", reenter=self._reenter)

    def _exception_result(self, exc: BaseException) -> ExecutionResult:
        if self._fatal is not None or self._stopped:
            return self._interrupted_result()
        leaves = _leaves(exc)
        if all(isinstance(leaf, (_Suspend, _Abort)) for leaf in leaves):
            return self._interrupted_result()
        errors = [leaf for leaf in leaves if not isinstance(leaf, (_Suspend, _Abort))]
        if self._suspending and not errors:
            return self._interrupted_result()
        first = errors[0] if len(errors) == 1 else exc
        # A ConfigError raised by the code (a bad wait_for_event condition, say) is a bug in
        # it: another attempt of the same code cannot succeed, so it fails the run at once.
        final = all(
            isinstance(leaf, (StepError, NonRetriableError, ConfigError)) for leaf in errors
        )
        if isinstance(first, RetryAfterError):
            retry_at = retry_at_from(first.after, now=self.clock())
            return ExecutionResult("errored", error={**error_dict(first), "retry_at": retry_at})
        return ExecutionResult("failed" if final else "errored", error=error_dict(first))

    # -- step plumbing --------------------------------------------------------------------

    def _enter(self) -> None:
        if self._fatal is not None or self._stopped:
            raise _Abort()
        if self._suspending:
            raise _Suspend()
        outer = current_step.get()
        if outer is not None:
            raise NonRetriableError(
                f"steps cannot be nested: a step tool was called inside step {outer[0]!r}; "
                "call it from the handler instead"
            )

    def _key_for(self, step_id: str) -> str:
        if not isinstance(step_id, str) or not step_id:
            raise TypeError(f"a step id must be a non-empty string, got {step_id!r}")
        if not is_text(step_id):
            raise TypeError(
                f"a step id must be text; {trim_text(step_id, 200)!r} holds a lone UTF-16 surrogate"
            )
        n = self._counts.get(step_id, 0)
        key = step_id if n == 0 else f"{step_id}:{n}"
        while key in self._used_keys:
            n += 1
            key = f"{step_id}:{n}"
        self._counts[step_id] = n + 1
        self._used_keys.add(key)
        self._seq[key] = len(self._used_keys)
        return key

    def _lookup(self, key: str, kind: StepKind) -> MemoStep | None:
        memo = self.request.steps.get(key)
        if memo is not None and memo.kind is not None and memo.kind != kind:
            self._abort(
                NonDeterminismError(
                    f"step {key!r} was recorded as a {memo.kind!r} step but the code now calls "
                    f"step.{kind.value}() with that id: steps were renamed or reordered since "
                    "this run started",
                    run_id=self.request.run_id,
                    step_id=key,
                )
            )
        return memo

    def _new_step(self, key: str) -> None:
        if self.host.is_cancelled():
            self._stop()
        if self._step_count >= MAX_STEPS_PER_RUN:
            self._abort(
                LimitExceededError(
                    f"a run may have at most {MAX_STEPS_PER_RUN} steps; step {key!r} is one "
                    "too many: split the work with step.invoke or step.send_event",
                    limit="steps_per_run",
                    run_id=self.request.run_id,
                    step_id=key,
                )
            )
        self._step_count += 1
        self._unreplayed.clear()

    def _replayed(self, key: str) -> None:
        self._unreplayed.discard(key)

    def _abort(self, error: BaseException) -> NoReturn:
        if self._fatal is None:
            self._fatal = error
        self._release_parked(_Abort)
        raise _Abort()

    def _stop(self) -> NoReturn:
        self._stopped = True
        self._release_parked(_Abort)
        raise _Abort()

    def _release_parked(self, kind: type[BaseException]) -> None:
        parked, self._parked = self._parked, []
        for future in parked:
            if not future.done():
                future.set_exception(kind())

    def _settled(self) -> None:
        if self._active == 0 and self._parked and self._probe is None:
            self._probe = asyncio.ensure_future(self._probe_quiet())

    async def _probe_quiet(self) -> None:
        try:
            for _ in range(_QUIET_ROUNDS):
                await asyncio.sleep(0)
                if self._active:
                    return
        finally:
            self._probe = None
        self._suspending = True
        self._release_parked(_Suspend)

    async def _park(self) -> NoReturn:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._parked.append(future)
        self._active -= 1
        self._settled()
        try:
            await future
        finally:
            self._active += 1
        raise _Suspend()  # pragma: no cover - the future always carries an exception

    def _step_error(self, step_id: str, error: Mapping[str, Any] | None) -> StepError:
        error = error or {}
        cause = error.get("cause") if error.get("name") == "StepError" else None
        source = cause if isinstance(cause, Mapping) else error
        return StepError(
            str(source.get("message", "")),
            step_id=step_id,
            name=str(source.get("name", "Error")),
            traceback=error.get("traceback"),
        )

    async def _follow(self, reply: Reply, step_id: str) -> Any:
        if reply.action == "continue":
            return reply.output
        if reply.action == "park":
            await self._park()
        if reply.action == "fail":
            raise self._step_error(step_id, reply.error)
        self._stop()

    async def _from_memo(self, memo: MemoStep, step_id: str) -> Any:
        if memo.state is MemoState.COMPLETED:
            self._replayed(memo.key)
            return memo.output
        if memo.state is MemoState.FAILED:
            self._replayed(memo.key)
            raise self._step_error(step_id, memo.error)
        await self._park()

    def _state_limit(self, size: int, key: str | None) -> LimitExceededError:
        return LimitExceededError(
            f"run state would reach {self._state_bytes + size} bytes, over the limit of "
            f"{MAX_RUN_STATE_BYTES} bytes (32 MB): return less data from steps",
            limit="run_state_bytes",
            run_id=self.request.run_id,
            step_id=key,
        )

    # -- the step tools --------------------------------------------------------------------

    async def request_step(
        self,
        step_id: str,
        kind: StepKind,
        build: Callable[[str], Checkpoint],
        *,
        typed: Typed | None = None,
    ) -> Any:
        """A step the host resolves (sleep, wait, invoke, send): memo, or ask and follow.

        ``typed`` is ``(fn, output_type, what)`` of a typed result (``step.invoke``); ``what``
        names the value in errors (``None``: "the result of step KEY").
        """
        self._enter()
        key = self._key_for(step_id)
        self._active += 1
        try:
            codec = self._typed(step_codec, typed, key)
            memo = self._lookup(key, kind)
            if memo is not None:
                output = await self._from_memo(memo, step_id)
                return self._typed(step_value, codec, output, typed, key, False)
            self._new_step(key)
            mock = self.request.mocks.get(key)
            if mock is not None:
                output = await self._use_mock(key, step_id, kind, mock, codec)
                return self._typed(step_value, codec, output, typed, key, True)
            message = dataclasses.replace(build(key), seq=self._seq[key])
            output = await self._follow(await self.host.checkpoint(message), step_id)
            return self._typed(step_value, codec, output, typed, key, False)
        finally:
            self._active -= 1
            self._settled()

    async def run_step(
        self,
        step_id: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        timeout: timedelta | None = None,
        output_type: Any = None,
    ) -> Any:
        """``step.run``: memo, or run the body (retrying as the host says) and checkpoint it.

        ``timeout`` bounds each attempt: one that runs longer fails with :class:`StepTimeout`.
        The result is typed by ``output_type`` or else ``fn``'s return annotation (``_typed``).
        """
        self._enter()
        if not callable(fn):
            raise TypeError(f"step.run({step_id!r}, fn): fn must be callable, got {fn!r}")
        key = self._key_for(step_id)
        self._active += 1
        try:
            typed = (fn, output_type, None)
            codec = self._typed(step_codec, typed, key)
            memo = self._lookup(key, StepKind.RUN)
            if memo is None:
                self._new_step(key)
                mock = self.request.mocks.get(key)
                if mock is not None:
                    output = await self._use_mock(key, step_id, StepKind.RUN, mock, codec)
                    return self._typed(step_value, codec, output, typed, key, True)
                attempt = 0
            elif memo.state is MemoState.RETRY:
                if self.host.is_cancelled():
                    self._stop()
                self._unreplayed.clear()
                attempt = memo.attempts
            else:
                output = await self._from_memo(memo, step_id)
                return self._typed(step_value, codec, output, typed, key, False)
            while True:
                reply = await self._attempt(
                    key, step_id, fn, args, kwargs, attempt, timeout=timeout, codec=codec
                )
                if reply.action == "continue" and isinstance(reply.output, _Retry):
                    attempt += 1
                    continue
                output = await self._follow(reply, step_id)
                return self._typed(step_value, codec, output, typed, key, False)
        finally:
            self._active -= 1
            self._settled()

    async def _use_mock(
        self, key: str, step_id: str, kind: StepKind, mock: MemoStep, codec: Codec | None = None
    ) -> Any:
        """Record a mocked result in place of running (or waiting for) the step."""
        now = self.clock()
        if mock.state is MemoState.FAILED:
            failed = StepFailed(
                key,
                step_id,
                dict(mock.error or {}),
                0,
                now,
                now,
                retriable=False,
                kind=kind,
                seq=self._seq[key],
            )
            return await self._follow(await self.host.checkpoint(failed), step_id)
        text = dumps(mock_json(codec, mock.output), what=f"the mocked result of step {step_id!r}")
        reply = await self.host.checkpoint(
            StepCompleted(key, step_id, text, 0, now, now, kind, seq=self._seq[key])
        )
        if reply.action == "stop":
            self._stop()
        return loads(text)

    async def _attempt(
        self,
        key: str,
        step_id: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        attempt: int,
        timeout: timedelta | None = None,
        codec: Codec | None = None,
    ) -> Reply:
        started = self.clock()
        sent = self.host.step_started(StepStarted(key, step_id, attempt, started, self._seq[key]))
        if sent is not None:
            await sent
        token = current_step.set((key, attempt))
        try:
            result = await call_body(fn, args, kwargs, timeout)
            if isinstance(result, TimedOut):
                raise StepTimeout(
                    step_id=step_id,
                    function_id=self.request.function_id,
                    timeout=format_duration(timeout or timedelta(0)),
                    run_id=self.request.run_id,
                )
        except BaseException as exc:
            ended = self.clock()
            current_step.reset(token)
            if self._passes_through(exc):
                raise
            # SystemExit and the like fail this attempt too: else the handler would be
            # retried in its place, running the step body again with no attempt recorded.
            return await self._report_failure(key, step_id, exc, attempt, started, ended)
        current_step.reset(token)
        ended = self.clock()
        try:
            result = step_json(codec, result, key, self.request.run_id)
            text = dumps(
                result,
                what=f"the result of step {step_id!r} of function {self.function.id!r}",
                run_id=self.request.run_id,
                step_id=key,
            )
        except SerializationError as exc:
            self._abort(exc)
        size = encoded_size(text)
        if size > MAX_STEP_OUTPUT_BYTES:
            self._abort(
                LimitExceededError(
                    f"step {key!r} returned {size} bytes, over the limit of "
                    f"{MAX_STEP_OUTPUT_BYTES} bytes (4 MB) per step result",
                    limit="step_output_bytes",
                    run_id=self.request.run_id,
                    step_id=key,
                )
            )
        if self._state_bytes + size > MAX_RUN_STATE_BYTES:
            self._abort(self._state_limit(size, key))
        self._state_bytes += size
        reply = await self.host.checkpoint(
            StepCompleted(key, step_id, text, attempt, started, ended, seq=self._seq[key])
        )
        if reply.action == "stop":
            self._stop()
        value = loads(text) if _needs_round_trip(result) else result
        if not self._checkpointing or (
            self._max_runtime is not None and self.clock() - self._started >= self._max_runtime
        ):
            self._reenter = True
            await self._park()
        return Reply("continue", value)

    async def _report_failure(
        self,
        key: str,
        step_id: str,
        exc: BaseException,
        attempt: int,
        started: float,
        ended: float,
    ) -> Reply:
        retry_at = None
        if isinstance(exc, RetryAfterError):
            retry_at = retry_at_from(exc.after, now=ended)
        reply = await self.host.checkpoint(
            StepFailed(
                key,
                step_id,
                error_dict(exc),
                attempt,
                started,
                ended,
                retriable=not isinstance(exc, NonRetriableError),
                retry_at=retry_at,
                seq=self._seq[key],
            )
        )
        if reply.action == "continue":
            return Reply("continue", _Retry())
        return reply

    def _passes_through(self, exc: BaseException) -> bool:
        """Whether ``exc``, raised by a step body, is not the step's failure: the engine's
        own interrupts, a cancelled task, or (in process) the user's Ctrl-C."""
        for leaf in _leaves(exc):
            if isinstance(leaf, (_Suspend, _Abort, asyncio.CancelledError, GeneratorExit)):
                return True
            if isinstance(leaf, KeyboardInterrupt) and not self._isolated:
                return True
        return False

    def _typed(self, call: Callable[..., Any], *args: Any) -> Any:
        """A typed-result step of ``_typed`` (SPEC 8); its error fails the run at once."""
        try:
            return call(*args, self.request.run_id)
        except SerializationError as exc:
            self._abort(exc)


class _Retry:
    """Marker: the host asked for another attempt right away."""


_PLAIN = (str, int, float, bool, type(None))


def _needs_round_trip(value: Any) -> bool:
    """Whether ``value`` could differ from its JSON form (tuples, non-str keys, nesting)."""
    return not isinstance(value, _PLAIN)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for inner in exc.exceptions:
            out.extend(_leaves(inner))
        return out
    return [exc]
