"""The Textual run inspector (installed as `durable.tui`).

A client of the dev server's HTTP API only (through `tui/api.py`): runs, run detail with the step
timeline, events, functions and log lines. Layout lives in `.tcss` files next to the screens.
"""
