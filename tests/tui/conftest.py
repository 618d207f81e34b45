"""Fixtures of the inspector tests: the real dev server of tests/devserver, and a stub client."""

from __future__ import annotations

from tests.devserver.conftest import LiveServer, live_server, serve

__all__ = ["LiveServer", "live_server", "serve"]
