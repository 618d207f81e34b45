"""JSON encoding of step results, outputs and events: strict, compact, measured once."""

from __future__ import annotations

import json
from typing import Any

from ._errors import SerializationError

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dumps(
    value: Any, *, what: str = "value", run_id: str | None = None, step_id: str | None = None
) -> str:
    """Encode ``value`` as compact JSON or raise :class:`SerializationError` naming ``what``.

    A string holding a lone UTF-16 surrogate (a non-UTF-8 file name decoded with
    ``surrogateescape``, say) is refused too: it is not text, and no store can hold it.
    """
    try:
        text = _encoder.encode(value)
    except (TypeError, ValueError) as exc:
        raise SerializationError(
            f"{what} is not JSON-serializable: {exc}", run_id=run_id, step_id=step_id
        ) from None
    except RecursionError:
        raise SerializationError(
            f"{what} is nested too deeply to encode as JSON", run_id=run_id, step_id=step_id
        ) from None
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start : min(exc.end, exc.start + 4)]
            raise SerializationError(
                f"{what} is not valid text: it holds {bad!r}, a lone UTF-16 surrogate (bytes "
                "decoded with errors='surrogateescape', such as a non-UTF-8 file name); "
                "decode with errors='replace', or pass bytes as base64",
                run_id=run_id,
                step_id=step_id,
            ) from None
    return text


def loads(text: str | bytes) -> Any:
    """Decode JSON produced by :func:`dumps`."""
    return json.loads(text)


def encoded_size(text: str) -> int:
    """Size in bytes of an encoded JSON text, as stored (UTF-8)."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))
