"""Ctrl-C while ``durable dev`` starts: it ends the process quietly, and it is never lost.

Python's own handler raises :class:`KeyboardInterrupt` wherever the main thread is: out of an
import it ends the process with a traceback; inside a weakref callback or a ``__del__``
(imports run some) it is printed as "Exception ignored" with a traceback and the Ctrl-C is
lost (the server then starts and runs on). So from its first line until the server installs
its own handler (:meth:`~durable.devserver.server.Server.serve`), ``durable dev`` has
:func:`exit_on_ctrl_c`'s handler instead: Ctrl-C raises :class:`SystemExit` (no traceback;
what was started is ended on the way out, see :func:`durable.devserver.dev.launch.run`), is
noted, and is not printed if it was raised where it cannot propagate. The server asks
:func:`interrupted` once its own handler is installed, and stops at once if one was lost.

The standard library only: the command line imports this before anything else.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

_state: dict[str, Any] = {"interrupted": False, "code": 0, "unraisablehook": None}


def interrupted() -> bool:
    """Whether Ctrl-C reached :func:`exit_on_ctrl_c`'s handler in this process."""
    return bool(_state["interrupted"])


def exit_on_ctrl_c(code: int) -> bool:
    """From now on Ctrl-C raises ``SystemExit(code)``, until :func:`usual_ctrl_c` or another
    handler (the server's) replaces it. Only over Python's own handler (an ignored SIGINT
    stays ignored) and on the main thread; False if not installed."""
    current = signal.getsignal(signal.SIGINT)
    if current is not signal.default_int_handler and current is not _exit:
        return False
    try:
        signal.signal(signal.SIGINT, _exit)
    except ValueError:  # not the main thread
        return False
    _state["code"] = code
    if _state["unraisablehook"] is None:
        _state["unraisablehook"] = sys.unraisablehook
        sys.unraisablehook = _unraisable
    return True


def usual_ctrl_c() -> None:
    """Python's own Ctrl-C (:class:`KeyboardInterrupt`) again, if :func:`exit_on_ctrl_c`'s
    handler is the current one."""
    if signal.getsignal(signal.SIGINT) is _exit:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    previous = _state["unraisablehook"]
    if previous is not None and sys.unraisablehook is _unraisable:
        sys.unraisablehook = previous
        _state["unraisablehook"] = None


def _exit(signum: int, frame: FrameType | None) -> None:
    _state["interrupted"] = True
    raise SystemExit(_state["code"])


def _unraisable(unraisable: Any) -> None:
    """An interrupt raised where it could not propagate is not printed (it is noted)."""
    if interrupted() and isinstance(unraisable.exc_value, SystemExit | KeyboardInterrupt):
        return
    (_state["unraisablehook"] or sys.__unraisablehook__)(unraisable)
