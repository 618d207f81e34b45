"""``durable cancel RUN_ID``: cancel a run; no further step starts."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import typer

from .client import ApiClient, JsonOption, KeyOption, UrlOption, cli_errors, print_json


def cancel(
    run_id: Annotated[str, typer.Argument(help="The run to cancel (see `durable runs`).")],
    reason: Annotated[
        str | None,
        typer.Option(help='Why, shown with the run (default: "cancelled by request").'),
    ] = None,
    url: UrlOption = None,
    signing_key: KeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Cancel a run (it ends as `cancelled`; no further step starts)."""
    with cli_errors():
        body = ApiClient(url, signing_key=signing_key).post(
            f"/api/runs/{quote(run_id, safe='')}/cancel",
            None if reason is None else {"reason": reason},
        )
    if json_output:
        print_json(body)
        return
    status = body.get("status") if isinstance(body, dict) else None
    typer.echo(f"{run_id}: {status}" if status else f"{run_id}: cancel requested")
