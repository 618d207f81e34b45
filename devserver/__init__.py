"""The dev server (installed as `durable.devserver`).

It owns the store, the scheduler loop, the HTTP API (Starlette on uvicorn) and the SSE stream;
it discovers function modules, runs user code in worker processes it spawns, and reloads them on
file changes (watchfiles). The server process never imports user code.
"""
