"""One local engine (virtual clock, memory store) under durable.testing and durable replay,
and the replay fixtures."""
