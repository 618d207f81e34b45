"""The run state machine over a store, a clock and an executor: scheduling, passes, commits."""
