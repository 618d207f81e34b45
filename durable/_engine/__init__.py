"""The execution core: re-entering a handler over its step history, the step tools, typed
results, and the messages of the worker protocol."""
