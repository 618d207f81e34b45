"""The in-process executor: user code runs in this process, on this event loop."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .._define.app import Durable, DurableFunction
from .._errors import ConfigError
from .execution import Execution
from .protocol import ExecutionHost, ExecutionRequest, ExecutionResult


def collect_functions(apps: Iterable[Durable]) -> dict[str, DurableFunction]:
    """All functions of ``apps`` by id; two apps may not share a function id."""
    functions: dict[str, DurableFunction] = {}
    for app in apps:
        for function_id, fn in app.functions.items():
            if function_id in functions:
                raise ConfigError(
                    f"apps {functions[function_id].app.id!r} and {app.id!r} both define it",
                    function_id=function_id,
                )
            functions[function_id] = fn
    return functions


class InProcessExecutor:
    """Runs handlers directly with the execution core."""

    def __init__(self, functions: dict[str, DurableFunction], clock: Callable[[], float]) -> None:
        self.functions = functions
        self.clock = clock

    async def execute(self, request: ExecutionRequest, host: ExecutionHost) -> ExecutionResult:
        function = self.functions[request.function_id]
        return await Execution(function, request, host, clock=self.clock).run()

    def cancel_run(self, run_id: str) -> None:
        """Nothing to do: the pass asks :meth:`ExecutionHost.is_cancelled` before each step."""
