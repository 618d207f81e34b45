"""What can go wrong between a typed value and its JSON form, as the codecs report it."""

from __future__ import annotations

from typing import Any


class Mismatch(Exception):
    """A value (or stored JSON) that does not fit a type: ``problem``, and where."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = []  #: segments, innermost first: ``.name``, ``[2]``, ``['k']``

    def within(self, segment: str) -> Mismatch:
        """The same mismatch, one level further out."""
        self.path.append(segment)
        return self

    @property
    def field(self) -> str | None:
        """``items[2].placed_at``; ``None`` for the value as a whole."""
        return "".join(reversed(self.path)).removeprefix(".") or None


class UnsupportedType(Exception):
    """A type that cannot be decoded from JSON without guessing (found when it is built)."""

    tp: Any = None  #: the type asked for (set by the caller that knows it)


class Unresolved(UnsupportedType):
    """The type holds a name (a string annotation) to look up in its function's module."""
