"""The example modules in examples/, run on the virtual clock of ``durable.testing``.

examples/ is not a package: each module is imported from its path under a unique name, so
every test gets fresh fake services (and a fresh app).
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pytest

from durable.testing import TestEngine

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
_counter = itertools.count()

Loader = Callable[[str], ModuleType]


@pytest.fixture
def load_example() -> Iterator[Loader]:
    """Import ``examples/<name>.py`` afresh; the modules are forgotten after the test."""
    names: list[str] = []

    def load(name: str) -> ModuleType:
        module_name = f"_durable_example_{name}_{next(_counter)}"
        spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses look their module up here
        names.append(module_name)
        spec.loader.exec_module(module)
        return module

    yield load
    for module_name in names:
        sys.modules.pop(module_name, None)


def order_event(order_id: str = "o-1", **extra: object) -> dict:
    data = {"orderId": order_id, "amount": 4200, "email": "ada@example.com", "items": ["sku-1"]}
    return {"name": "order/created", "data": {**data, **extra}}


def attempt_starts(t: TestEngine, run_id: str, key: str) -> list[float]:
    step = next(s for s in t.store.get_steps(run_id) if s.key == key)
    return [attempt["started_at"] for attempt in step.attempts]


# -- orders.py ------------------------------------------------------------------------------------


async def test_process_order_runs_its_steps_in_order_and_sleeps_until_payment_is_due(
    load_example: Loader,
) -> None:
    orders = load_example("orders")
    async with TestEngine(orders.app) as t:
        due = (t.now + timedelta(hours=1)).isoformat()
        await t.send(order_event("o-1", paymentDue=due))
        await t.settle()
        run = t.runs(function="process-order")[0]
        assert run.status == "sleeping"
        assert [(s.key, s.status) for s in run.steps] == [
            ("reserve-stock", "completed"),
            ("wait-for-payment-due", "sleeping"),
        ]
        assert orders.inventory.reserved == {"o-1": ["sku-1"]}
        assert orders.payments.charges == {}  # nothing is charged before the payment is due

        await t.advance("59m")
        assert t.run(run.run_id).status == "sleeping"
        await t.advance("2m")
        run = t.run(run.run_id)

    assert run.status == "completed"
    assert [(s.key, s.kind, s.status) for s in run.steps] == [
        ("reserve-stock", "run", "completed"),
        ("wait-for-payment-due", "sleep", "completed"),
        ("charge", "run", "completed"),
        ("send-confirmation", "run", "completed"),
    ]
    assert run.output == {
        "orderId": "o-1",
        "reservationId": "res-o-1",
        "chargeId": "ch-o-1",
        "confirmation": "msg-1",
    }
    assert orders.payments.charges == {"o-1": 4200}
    assert orders.mailer.sent == [("ada@example.com", "Order o-1 confirmed")]
    # The log line outside the steps is written once, although the handler ran in 2 passes.
    assert [line.message for line in t.logs(run.run_id)] == ["order o-1 charged (ch-o-1)"]


async def test_process_order_retries_only_the_failing_step(load_example: Loader) -> None:
    orders = load_example("orders")
    orders.payments.outages = 2  # two network errors, then the provider answers
    async with TestEngine(orders.app) as t:
        run = await t.execute("process-order", event=order_event("o-2"))
    assert run.status == "completed"
    assert [(s.key, s.attempts) for s in run.steps] == [
        ("reserve-stock", 1),
        ("wait-for-payment-due", 0),
        ("charge", 3),
        ("send-confirmation", 1),
    ]
    assert orders.payments.charges == {"o-2": 4200}
    assert len(orders.mailer.sent) == 1


# -- robust.py ------------------------------------------------------------------------------------


async def test_robust_uses_the_primary_carrier_when_it_answers(load_example: Loader) -> None:
    robust = load_example("robust")
    async with TestEngine(robust.app) as t:
        run = await t.execute(
            "fetch-shipping-quote",
            event={"name": "shipping/quote.requested", "data": {"parcelId": "p", "weightKg": 2}},
        )
    assert run.status == "completed"
    assert run.output == {"carrier": "fastship", "price": 8.0}
    assert [s.key for s in run.steps] == ["primary-carrier"]
    assert robust.secondary.calls == 0


async def test_robust_falls_back_when_the_primary_step_fails(load_example: Loader) -> None:
    robust = load_example("robust")
    robust.primary.down = True
    async with TestEngine(robust.app) as t:
        run = await t.execute(
            "fetch-shipping-quote",
            event={"name": "shipping/quote.requested", "data": {"parcelId": "p", "weightKg": 2}},
        )
        starts = attempt_starts(t, run.run_id, "primary-carrier")
        logs = [line.message for line in t.logs(run.run_id)]
    assert run.status == "completed"
    assert run.output == {"carrier": "slowpost", "price": 13.0}
    assert [(s.key, s.status, s.attempts) for s in run.steps] == [
        ("primary-carrier", "failed", 3),  # retries=2: three attempts, then StepError
        ("fallback-carrier", "completed", 1),
    ]
    assert robust.primary.calls == 3
    assert [round(b - a, 3) for a, b in itertools.pairwise(starts)] == [1, 5]  # backoff=
    assert logs == [
        "primary carrier failed (ConnectionError: fastship is not answering); falling back"
    ]


# -- rate_limited.py ------------------------------------------------------------------------------


async def test_rate_limited_call_retries_after_the_delay_the_api_asked_for(
    load_example: Loader,
) -> None:
    rate_limited = load_example("rate_limited")
    rate_limited.crm.throttled = 1
    rate_limited.crm.retry_after_seconds = 120
    contact = {"contactId": "c-1", "email": "ada@example.com"}
    async with TestEngine(rate_limited.app) as t:
        await t.send({"name": "crm/contact.updated", "data": contact})
        await t.settle()
        run = t.runs(function="sync-contact")[0]
        step = run.steps[0]
        assert (step.key, step.status, step.attempts) == ("push-contact", "errored", 1)
        assert step.error is not None and step.error["name"] == "RetryAfterError"
        assert rate_limited.crm.calls == ["c-1"]

        await t.advance("119s")  # not before Retry-After...
        assert rate_limited.crm.calls == ["c-1"]
        await t.advance("1s")  # ...and right when it is due (no backoff, no jitter)
        run = t.run(run.run_id)
        starts = attempt_starts(t, run.run_id, "push-contact")

    assert rate_limited.crm.calls == ["c-1", "c-1"]
    assert run.status == "completed"
    assert run.output == {"id": "crm-c-1"}
    assert run.steps[0].attempts == 2
    assert round(starts[1] - starts[0], 3) == 120


async def test_rate_limited_call_does_not_retry_a_rejected_request(load_example: Loader) -> None:
    rate_limited = load_example("rate_limited")
    async with TestEngine(rate_limited.app) as t:
        run = await t.execute(
            "sync-contact", event={"name": "crm/contact.updated", "data": {"contactId": "c-2"}}
        )
    assert run.status == "failed"
    assert run.error is not None and run.error["step_id"] == "push-contact"
    assert "CRM rejected the contact" in run.error["message"]
    assert rate_limited.crm.calls == ["c-2"]  # NonRetriableError: one attempt only


# -- checkout_email.py ----------------------------------------------------------------------------


async def test_checkout_email_is_sent(load_example: Loader) -> None:
    checkout = load_example("checkout_email")
    event = checkout.checkout_completed("cart-7", "ada@example.com", ["sku-1", "sku-2"])
    assert event["id"] == "checkout-completed-cart-7"
    async with TestEngine(checkout.app) as t:
        assert await t.send(event) == ["checkout-completed-cart-7"]
        await t.settle()
        runs = t.runs(function="send-checkout-email")
    assert [(r.status, r.output) for r in runs] == [
        ("completed", {"cartId": "cart-7", "messageId": "msg-1"})
    ]
    assert [s.key for s in runs[0].steps] == ["send-email"]
    assert checkout.mailer.sent == [
        {
            "to": "ada@example.com",
            "subject": "Thanks for your order (2 items)",
            "body": "You bought: sku-1, sku-2",
        }
    ]


# -- cleanup.py -----------------------------------------------------------------------------------


async def test_a_failed_order_triggers_the_cleanup_function(load_example: Loader) -> None:
    orders, cleanup = load_example("orders"), load_example("cleanup")
    orders.payments.decline = True  # NonRetriableError: the run fails at the charge
    async with TestEngine(orders.app, cleanup.app) as t:
        await t.send(order_event("o-9"))
        await t.advance("10m")
        failed = t.runs(function="process-order")[0]
        cleanups = t.runs(function="cleanup-order")

    assert failed.status == "failed"
    assert failed.error is not None and failed.error["step_id"] == "charge"
    assert len(cleanups) == 1
    run = cleanups[0]
    assert run.event.name == "durable/function.failed"
    assert run.event.data["function_id"] == "process-order"
    assert run.event.data["run_id"] == failed.run_id
    assert run.status == "completed"
    assert [s.key for s in run.steps] == ["release-stock", "open-ticket"]
    assert run.output == {"orderId": "o-9", "released": "o-9", "ticket": "ticket-1"}
    assert cleanup.inventory.released == ["o-9"]
    assert cleanup.support.tickets[0]["title"] == "order o-9: failed"
    assert cleanup.support.tickets[0]["details"]["run_id"] == failed.run_id
    assert "card declined" in cleanup.support.tickets[0]["details"]["why"]


async def test_a_cancelled_order_triggers_the_cleanup_function(load_example: Loader) -> None:
    orders, cleanup = load_example("orders"), load_example("cleanup")
    async with TestEngine(orders.app, cleanup.app) as t:
        await t.send(order_event("o-5"))
        await t.settle()
        run_id = t.runs(function="process-order")[0].run_id
        assert await t.cancel(run_id, "customer changed their mind")
        await t.advance("1h")
        cancelled = t.run(run_id)
        cleanups = t.runs(function="cleanup-order")

    assert cancelled.status == "cancelled"
    assert [s.key for s in cancelled.steps] == ["reserve-stock", "wait-for-payment-due"]
    assert orders.payments.charges == {}
    assert [(r.event.name, r.status) for r in cleanups] == [
        ("durable/function.cancelled", "completed")
    ]
    assert cleanup.inventory.released == ["o-5"]
    assert cleanup.support.tickets[0]["details"]["why"] == "customer changed their mind"


async def test_cleanup_ignores_failures_of_other_functions(load_example: Loader) -> None:
    robust, cleanup = load_example("robust"), load_example("cleanup")
    robust.primary.down = robust.secondary.down = True
    async with TestEngine(robust.app, cleanup.app) as t:
        run = await t.execute(
            "fetch-shipping-quote",
            event={"name": "shipping/quote.requested", "data": {"parcelId": "p", "weightKg": 1}},
        )
        await t.settle()
        cleanups = t.runs(function="cleanup-order")
    assert run.status == "failed"
    assert run.error is not None and run.error["step_id"] == "fallback-carrier"
    assert cleanups == []
    assert cleanup.inventory.released == []


# -- flow_control.py ------------------------------------------------------------------------------


async def test_flow_control_example_throttles_debounces_and_batches(load_example: Loader) -> None:
    module = load_example("flow_control")
    async with TestEngine(module.app) as t:
        await t.send(
            [
                {"name": "user/signed.up", "data": {"userId": f"u{n}", "email": f"{n}@x.io"}}
                for n in range(15)
            ]
        )
        await t.settle()
        assert len(module.sent_emails) == 12  # limit 10 + burst 2 at once
        for n in range(4):
            await t.send({"name": "product/updated", "data": {"productId": "p-1", "v": n}})
            await t.advance("1s")
        await t.send([{"name": "page/viewed", "data": {"path": f"/{n}"}} for n in range(3)])
        await t.advance("1m")
        assert len(module.sent_emails) == 15  # the rest waited their turn
        assert module.indexed == [{"productId": "p-1", "v": 3}]  # once, with the last edit
        assert module.stored_views == [["/0", "/1", "/2"]]  # one batch, on its timeout
