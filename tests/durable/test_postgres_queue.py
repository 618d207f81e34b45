"""The queue of multi-row writes: statements go in a fixed order, one run's writes in its own.

The queue alone (no database): what ``Session`` sends, in which order and when it must send
first. Its use on a real PostgreSQL is tested in test_postgres.py.
"""

from __future__ import annotations

from durable._stores.postgres_queue import WriteQueue

INSERT, UPDATE, RELEASE = "insert", "update", "release"


def test_statements_go_in_the_fixed_order_with_rows_sorted_by_key() -> None:
    queue = WriteQueue((INSERT, UPDATE, RELEASE))
    queue.add(RELEASE, "b", ("b", 1), run="b")
    queue.add(UPDATE, "b", ("b", "running"), run="b")
    queue.add(UPDATE, "a", ("a", "running"), run="a")
    queue.add(UPDATE, "a", ("a", "completed"), run="a")  # a later row replaces the first
    queue.add(INSERT, "c", ("c",), run="c")
    batches = queue.take()
    assert [batch.sql for batch in batches] == [INSERT, UPDATE, RELEASE]
    assert batches[1].columns == [["a", "b"], ["completed", "running"]]
    assert not queue and queue.take() == []


def test_a_run_with_a_row_in_a_later_statement_sends_the_queue_first() -> None:
    queue = WriteQueue((INSERT, UPDATE, RELEASE))
    queue.add(UPDATE, "a", ("a",), run="a")
    queue.add(RELEASE, "a", ("a",), run="a")
    assert not queue.must_send_first(RELEASE, "a")
    assert not queue.must_send_first(UPDATE, "b")  # another run: batched with the others
    assert queue.must_send_first(UPDATE, "a")  # would be sent before a's release
    assert queue.must_send_first(INSERT, "a")
    assert not queue.must_send_first(UPDATE, None)


def test_returned_rows_go_to_the_statements_callback_and_clear_empties_the_queue() -> None:
    queue = WriteQueue((UPDATE,))
    heard: list[object] = []
    queue.add(UPDATE, "a", ("a",), heard.append, run="a")
    [batch] = queue.take()
    assert batch.returned is not None
    batch.returned([(True,)])
    assert heard == [[(True,)]]
    queue.add(UPDATE, "a", ("a",), run="a")
    queue.clear()
    assert not queue and not queue.must_send_first(INSERT, "a")
