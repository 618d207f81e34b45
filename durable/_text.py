"""Text that is only shown (error messages, tracebacks, log lines, reasons): always storable.

Such text may hold lone UTF-16 surrogates (a non-UTF-8 file name decoded with
``surrogateescape``), which no UTF-8 file, socket or database can hold, and may be of any
size. :func:`clean_text` replaces each surrogate with U+FFFD (one character for one, so a
trimmed text stays within its bound); :func:`trim_text` keeps the head and the tail of a long
text around a visible marker.
Data (step results, outputs, events) is never repaired this way: it is refused instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: Characters kept of one shown text: an error message, a traceback, a log line, a reason.
MAX_TEXT_CHARS = 64 * 1024
#: Encoded bytes of a whole error dict beyond which only its core fields are kept.
MAX_ERROR_BYTES = 256 * 1024
_SURROGATE = re.compile("[\ud800-\udfff]")
_CORE_FIELDS = ("name", "code", "message", "traceback", "step_id", "cause", "retry_at")


def is_text(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8 (holds no lone surrogate)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean_text(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD, the replacement character."""
    if is_text(text):
        return text
    return _SURROGATE.sub("\ufffd", text)


def trim_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters: its head and tail around a marker
    ``… [trimmed 412,345 characters] …`` (the tail of a traceback names the error).

    Trimming a trimmed text again with the same limit leaves it as it is.
    """
    if len(text) <= limit:
        return text
    # the count of len(text) has at least as many digits as the count of what is removed
    keep = max(limit - len(_marker(len(text))), 0)
    tail = keep // 4
    head = keep - tail
    return text[:head] + _marker(len(text) - keep) + (text[-tail:] if tail else "")


def _marker(removed: int) -> str:
    return f" … [trimmed {removed:,} characters] … "


def shown_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """:func:`trim_text` of :func:`clean_text`: trimmed first, so a huge text is not copied."""
    return clean_text(trim_text(text, limit))


def error_text(exc: BaseException) -> str:
    """``str(exc)``, or a placeholder if the error's ``__str__`` itself fails."""
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__name__}: str() of the error failed>"


def clean_error(error: Mapping[str, Any], limit: int = MAX_TEXT_CHARS) -> dict[str, Any]:
    """An error dict whose strings (keys too), at any depth, are :func:`shown_text`.

    An error still larger than :data:`MAX_ERROR_BYTES` (a custom error with a huge list
    field, say) keeps only its core fields: name, message, traceback and the like.
    """
    try:
        cleaned: dict[str, Any] = _clean_value(error, limit)
    except RecursionError:  # a custom field nested absurdly deep: keep the plain fields
        cleaned = {
            key: shown_text(value, limit)
            for key, value in error.items()
            if key in _CORE_FIELDS and isinstance(value, str)
        }
    if _size(cleaned) > MAX_ERROR_BYTES:
        cleaned = {key: cleaned[key] for key in _CORE_FIELDS if key in cleaned}
        if _size(cleaned) > MAX_ERROR_BYTES:  # a cause with huge fields of its own
            cleaned.pop("cause", None)
        cleaned["trimmed"] = "fields left out: the error was over 256 KB"
    return cleaned


def _clean_value(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return shown_text(value, limit)
    if isinstance(value, Mapping):
        return {
            (shown_text(k, limit) if isinstance(k, str) else k): _clean_value(v, limit)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_clean_value(item, limit) for item in value]
    return value


def _size(value: Any) -> int:
    from ._serialization import dumps, encoded_size

    try:
        return encoded_size(dumps(value))
    except Exception:  # not JSON at all (a stray object in a custom error): keep the core
        return MAX_ERROR_BYTES + 1
