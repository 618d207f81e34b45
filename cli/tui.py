"""``durable tui [--url URL]``: the run inspector, attached to a running dev server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .client import KeyOption, UrlOption, cli_errors, resolve_url


def tui(
    url: UrlOption = None,
    signing_key: KeyOption = None,
    fixtures: Annotated[
        Path, typer.Option(help="Folder the export key writes fixtures to.")
    ] = Path("fixtures"),
) -> None:
    """Open the run inspector (a Textual TUI) on a running dev server."""
    with cli_errors():
        chosen = resolve_url(url)
    from durable.tui.app import run_tui

    key = {"signing_key": signing_key} if signing_key else {}  # else $DURABLE_SIGNING_KEY
    run_tui(chosen, fixtures_dir=fixtures, **key)
