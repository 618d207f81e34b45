"""The inspector's screens, one per module: runs, run detail, events, functions, send form."""
