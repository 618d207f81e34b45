"""sync-contact: push a contact to a third-party API that rate-limits its callers.

When the API answers 429 Too Many Requests, it says when to come back (``Retry-After``).
Raising ``RetryAfterError`` from the step schedules the next attempt at exactly that delay
instead of the default backoff. The run does not hold a process while it waits.

Try it with the dev server running (``durable dev``)::

    durable send crm/contact.updated --data '{"contactId": "c-1", "email": "ada@example.com"}'
"""

from __future__ import annotations

from dataclasses import dataclass, field

from durable import Context, Durable, NonRetriableError, RetryAfterError

app = Durable(id="crm")


# -- fake external service ------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict = field(default_factory=dict)


class CrmApi:
    """A fake CRM API: the next ``throttled`` calls get a 429 with ``Retry-After``."""

    def __init__(self) -> None:
        self.throttled = 0
        self.retry_after_seconds = 30
        self.calls: list[str] = []

    def upsert_contact(self, contact: dict) -> Response:
        self.calls.append(contact["contactId"])
        if self.throttled > 0:
            self.throttled -= 1
            return Response(429, {"Retry-After": str(self.retry_after_seconds)})
        if "email" not in contact:
            return Response(422, body={"error": "email is required"})
        return Response(200, body={"id": f"crm-{contact['contactId']}"})


crm = CrmApi()


def push_contact(contact: dict) -> dict:
    """The step body: one API call, translated into durable's retry signals."""
    response = crm.upsert_contact(contact)
    if response.status == 429:
        # Come back when the API says so: "30s" here; a datetime works too.
        raise RetryAfterError("rate limited by the CRM", f"{response.headers['Retry-After']}s")
    if 400 <= response.status < 500:
        # The request itself is wrong: retrying it would fail the same way.
        raise NonRetriableError(f"CRM rejected the contact: {response.body}")
    if response.status >= 500:
        raise RuntimeError(f"CRM error {response.status}")  # retried with the default backoff
    return response.body


# -- the durable function -------------------------------------------------------------------------


@app.function(id="sync-contact", triggers=[{"event": "crm/contact.updated"}])
async def sync_contact(ctx: Context) -> dict:
    return await ctx.step.run("push-contact", push_contact, ctx.event.data)
