"""Flow control: throttle an email provider, debounce search re-indexing, batch analytics.

- ``send-welcome`` starts at most 10 runs a minute (plus 2 at once): a sign-up burst waits
  its turn (FIFO), none is dropped.
- ``reindex-product`` runs 5 seconds after the last edit of a product (at most a minute after
  the first): ten quick edits make one re-index, with the last edit.
- ``store-page-views`` takes page views in batches of up to 50 (or what arrived within 5 seconds
  of the first): one bulk insert per batch (``ctx.events``).

Try it with the dev server running (``make dev``)::

    durable send user/signed.up --data '{"userId": "u-1", "email": "ada@example.com"}'
    durable send product/updated --data '{"productId": "p-1", "title": "Tea"}'
    durable send page/viewed --data '{"path": "/"}'
"""

from __future__ import annotations

from durable import Context, Durable

app = Durable(id="growth")

# -- fake external services -----------------------------------------------------------------------

sent_emails: list[str] = []
indexed: list[dict] = []
stored_views: list[list[str]] = []


@app.function(
    id="send-welcome",
    triggers=[{"event": "user/signed.up"}],
    throttle={"limit": 10, "period": "1m", "burst": 2},
)
async def send_welcome(ctx: Context) -> str:
    """Email every new user, at the pace the email provider allows."""
    email = ctx.event.data["email"]
    await ctx.step.run("send-email", sent_emails.append, email)
    return email


@app.function(
    id="reindex-product",
    triggers=[{"event": "product/updated"}],
    debounce={"period": "5s", "key": "event.data.productId", "timeout": "1m"},
)
async def reindex_product(ctx: Context) -> str:
    """Re-index a product once its edits settle, with its latest data."""
    product = dict(ctx.event.data)
    await ctx.step.run("index", indexed.append, product)
    return str(product["productId"])


@app.function(
    id="store-page-views",
    triggers=[{"event": "page/viewed"}],
    batch_events={"max_size": 50, "timeout": "5s"},
)
async def store_page_views(ctx: Context) -> int:
    """One bulk insert for a whole batch of page views."""
    paths = [str(event.data.get("path", "/")) for event in ctx.events]
    await ctx.step.run("bulk-insert", stored_views.append, paths)
    return len(paths)
