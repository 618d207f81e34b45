"""The dev server (installed as `durable.devserver`).

It owns the store, the scheduler loop, the HTTP API (Starlette on uvicorn) and the SSE stream;
it discovers function modules, runs user code in worker processes it spawns, and reloads them on
file changes (watchfiles). The server process never imports user code.

The names below are what the CLI (and other tools) use; the modules behind them are the dev
server's own. Importing this package is cheap: each name loads its module on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from durable._lazy import Home, lazy_names

if TYPE_CHECKING:
    from .apps import LoadAppsError, load_apps
    from .child import (
        LogNotWritableError,
        RunApp,
        ServerStartError,
        connect_host,
        log_path,
        run_with_tui,
        wants_tui,
    )
    from .guard import check_host_name
    from .launch import DatabaseError, run
    from .listen import ListenError
    from .listen import listen as bind_listeners
    from .options import DevOptions

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
    "load_apps",
    "log_path",
    "run",
    "run_with_tui",
    "wants_tui",
]

#: Where each public name lives: its module, or its module and its name there.
_HOMES: dict[str, Home] = {
    "LoadAppsError": ".apps",
    "load_apps": ".apps",
    "LogNotWritableError": ".child",
    "RunApp": ".child",
    "ServerStartError": ".child",
    "connect_host": ".child",
    "log_path": ".child",
    "run_with_tui": ".child",
    "wants_tui": ".child",
    "check_host_name": ".guard",
    "DatabaseError": ".launch",
    "run": ".launch",
    "ListenError": ".listen",
    "bind_listeners": (".listen", "listen"),  # not `listen`: the module's own name
    "DevOptions": ".options",
}


# Not cached here: a name follows its module (a test may patch ``launch.run``).
__getattr__, __dir__ = lazy_names(__name__, _HOMES, __all__, globals(), cache=False)
