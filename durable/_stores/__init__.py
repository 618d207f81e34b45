"""The Store protocol and its backends (memory, SQLite)."""
