"""Tracebacks as a user reads them: their own frames, not the engine's plumbing.

A step body runs under the engine (``_core``'s attempt, ``asyncio.to_thread``, the thread
pool): those frames say nothing about the user's bug. :func:`user_traceback` drops frames of
the ``durable`` package and of the stdlib's asyncio, ``concurrent.futures`` and threading from
every exception of the chain, unless nothing else would remain (a bug in the engine itself
keeps its whole stack). :func:`relative_paths` rewrites ``File "/abs/project/x.py"`` as
``File "x.py"``, for files meant to be shared (fixtures).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import traceback
from pathlib import Path
from typing import Any

from ._text import trim_text

#: Folders (and files) whose frames are the engine's, not the user's.
_ENGINE = tuple(
    str(path)
    for path in (
        Path(__file__).resolve().parent,
        Path(asyncio.__file__).resolve().parent,
        Path(concurrent.futures.__file__).resolve().parent,
        Path(threading.__file__).resolve(),
    )
)


def _engine_frame(filename: str) -> bool:
    try:
        path = os.path.realpath(filename)
    except (OSError, ValueError):
        return False
    return any(path == root or path.startswith(root + os.sep) for root in _ENGINE)


def _trim(te: traceback.TracebackException, seen: set[int]) -> None:
    if id(te) in seen:
        return
    seen.add(id(te))
    kept = [frame for frame in te.stack if not _engine_frame(frame.filename)]
    if kept:
        te.stack = traceback.StackSummary.from_list(kept)
    for other in (te.__cause__, te.__context__, *(getattr(te, "exceptions", None) or [])):
        if other is not None:
            _trim(other, seen)


def user_traceback(exc: BaseException) -> str:
    """``exc``'s formatted traceback without the engine's frames (see the module docstring)."""
    te = traceback.TracebackException.from_exception(exc, compact=True)
    _trim(te, set())
    # each piece trimmed as it comes: a 70 MB message is never copied whole into the text
    return "".join(trim_text(piece) for piece in te.format())


def relative_paths(text: str, root: str | os.PathLike[str]) -> str:
    """``text`` with ``File "ROOT/...`` frames written relative to ``root``."""
    prefix = f'File "{os.path.realpath(root).rstrip(os.sep)}{os.sep}'
    return text.replace(prefix, 'File "')


def relative_error(error: dict[str, Any], root: str | os.PathLike[str]) -> dict[str, Any]:
    """A stored error dict with its tracebacks (its cause's too) relative to ``root``."""
    out: dict[str, Any] = {}
    for key, value in error.items():
        if isinstance(value, str) and key == "traceback":
            out[key] = relative_paths(value, root)
        elif isinstance(value, dict):
            out[key] = relative_error(value, root)
        else:
            out[key] = value
    return out
