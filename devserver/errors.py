"""Errors a server command reports before it serves (standard library only: the launcher
imports this before anything heavy)."""

from __future__ import annotations

__all__ = ["DatabaseError"]


class DatabaseError(Exception):
    """The ``--db`` file cannot be opened: not a durable database, a newer schema, unwritable."""
