"""``durable export RUN_ID [-o FILE]``: save a run as a replay fixture (SPEC section 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import typer

from .client import ApiClient, CliError, KeyOption, UrlOption, cli_errors


def export(
    run_id: Annotated[str, typer.Argument(help="The run to export (see `durable runs`).")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the fixture here (default: stdout)."),
    ] = None,
    url: UrlOption = None,
    signing_key: KeyOption = None,
) -> None:
    """Save a run as a replay fixture for `durable replay`."""
    from durable.fixtures import fixture_json, write_fixture

    with cli_errors():
        fixture = ApiClient(url, signing_key=signing_key).get(
            f"/api/runs/{quote(run_id, safe='')}/fixture"
        )
        if output is None:
            typer.echo(fixture_json(fixture), nl=False)
            return
        try:
            write_fixture(output, fixture)
        except OSError as exc:
            raise CliError(f"cannot write {output}: {exc.strerror or exc}") from None
        typer.echo(f"wrote {output} (run {run_id})")
