"""The server (installed as `durable.devserver`): ``durable dev`` and ``durable start``.

It owns the store, the scheduler loop, the HTTP API (Starlette on uvicorn) and the SSE stream;
it discovers function modules and runs user code in worker processes it spawns. The server
process never imports user code. What only development needs (hot reload, the launcher, the
TUI child, the headless log) lives in :mod:`.dev`, which the production server never imports.

The names below are what the CLI (and other tools) use; the modules behind them are the dev
server's own. Importing this package is cheap: each name loads its module on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from durable._lazy import Home, lazy_names

if TYPE_CHECKING:
    from .apps import LoadAppsError, load_apps
    from .dev.child import (
        LogNotWritableError,
        RunApp,
        ServerStartError,
        connect_host,
        log_path,
        run_with_tui,
        wants_tui,
    )
    from .dev.launch import run
    from .errors import DatabaseError
    from .guard import check_host_name, key_problem
    from .interrupts import exit_on_ctrl_c, interrupted, usual_ctrl_c
    from .listen import ListenError
    from .listen import listen as bind_listeners
    from .options import DevOptions
    from .production import run_production

__all__ = [
    "DatabaseError",
    "DevOptions",
    "ListenError",
    "LoadAppsError",
    "LogNotWritableError",
    "RunApp",
    "ServerStartError",
    "bind_listeners",
    "check_host_name",
    "connect_host",
    "exit_on_ctrl_c",
    "interrupted",
    "key_problem",
    "load_apps",
    "log_path",
    "run",
    "run_production",
    "run_with_tui",
    "usual_ctrl_c",
    "wants_tui",
]

#: Where each public name lives: its module, or its module and its name there.
_HOMES: dict[str, Home] = {
    "LoadAppsError": ".apps",
    "load_apps": ".apps",
    "LogNotWritableError": ".dev.child",
    "RunApp": ".dev.child",
    "ServerStartError": ".dev.child",
    "connect_host": ".dev.child",
    "log_path": ".dev.child",
    "run_with_tui": ".dev.child",
    "wants_tui": ".dev.child",
    "check_host_name": ".guard",
    "key_problem": ".guard",
    "DatabaseError": ".errors",
    "exit_on_ctrl_c": ".interrupts",
    "interrupted": ".interrupts",
    "usual_ctrl_c": ".interrupts",
    "run": ".dev.launch",
    "ListenError": ".listen",
    "bind_listeners": (".listen", "listen"),  # not `listen`: the module's own name
    "DevOptions": ".options",
    "run_production": ".production",
}


# Not cached here: a name follows its module (a test may patch ``launch.run``).
__getattr__, __dir__ = lazy_names(__name__, _HOMES, __all__, globals(), cache=False)
