"""Run and event ids: sortable by creation, also within one millisecond."""

from __future__ import annotations

from durable import Context, Durable
from durable._ids import new_id
from durable.testing import TestEngine


def test_ids_of_one_millisecond_sort_in_creation_order() -> None:
    ids = [new_id(1_700_000_000_000) for _ in range(1_000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(len(i) == 26 for i in ids)


def test_ids_sort_by_their_millisecond_first() -> None:
    later = new_id(1_700_000_000_001)
    earlier = new_id(1_700_000_000_000)
    assert earlier < later


async def test_runs_started_at_one_virtual_instant_are_listed_newest_first() -> None:
    app = Durable(id="ids")

    @app.function(id="echo", triggers=[{"event": "t/echo"}])
    async def echo(ctx: Context) -> int:
        return int(ctx.event.data["n"])

    async with TestEngine(app) as t:
        for n in range(20):  # the virtual clock stands still: every run has the same ms
            await t.send({"name": "t/echo", "data": {"n": n}})
        await t.settle()
        assert [r.output for r in t.runs(function="echo")] == list(range(19, -1, -1))


def test_ids_keep_their_encoding() -> None:
    """Derived ids are stored (a sent event's id, a cron tick's): the same parts must give
    the same id in every version. Crockford base32, time first."""
    from durable._ids import derived_id

    assert derived_id("a", "b") == "01JTPNT1SQXD8HM7SW8SR7NMXJ"
    assert derived_id("fn", "cron", "2026") == "1G4S3KCN05TV1BAET7E6WC9RGR"
    assert new_id(0).startswith("0000000000") and len(new_id(0)) == 26
    assert new_id((1 << 48) - 1).startswith("7ZZZZZZZZZ")
    first, second = new_id(1_700_000_000_000), new_id(1_700_000_000_000)
    assert first[:10] == second[:10] == "01HF7YAT00"
    assert int(second[10:].translate(str.maketrans("JKMNPQRSTVWXYZ", "IJKLMNOPQRSTUV")), 32) == (
        int(first[10:].translate(str.maketrans("JKMNPQRSTVWXYZ", "IJKLMNOPQRSTUV")), 32) + 1
    )
