"""What only ``durable dev`` needs: hot reload, the launcher that spawns the first worker
early, the TUI child process and the headless log.

The production server (``durable start``) reuses the rest of :mod:`durable.devserver` and never
imports this package.
"""
