"""Definition: ``Durable``, ``@app.function`` and what they record (config, triggers,
expressions, durations, backoff, events). No I/O at import."""
