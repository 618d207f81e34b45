"""Connections to PostgreSQL, and database faults as :class:`~durable._errors.StoreError`.

psycopg is imported here, lazily: without the ``durable[postgres]`` extra, opening a
``postgresql://`` database says which extra to install instead of failing on an import.
A fault names the problem (server unreachable, authentication refused, database missing,
lock wait too long, disk full) and never carries the URL's password.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .._errors import StoreError

if TYPE_CHECKING:
    import psycopg

#: How long a statement waits for a row another connection holds before it is refused. The
#: server calls the store on its event loop: a long wait there would stall every request.
LOCK_TIMEOUT_MS = 2000
#: A session idle inside a transaction this long is ended by PostgreSQL, releasing its row
#: locks: a server paused mid-transaction (SIGSTOP, a VM frozen) holds up nobody's reaping of
#: it for longer, and its commit fails when it wakes. A healthy server commits at least every
#: heartbeat (a quarter of ``--dead-after``), far more often than this.
IDLE_IN_TRANSACTION_MS = 5000
#: Seconds to wait for the server when connecting.
CONNECT_TIMEOUT = 5

_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@|(password=)[^&\s]*", re.IGNORECASE)


def redact(url: str) -> str:
    """``url`` without its password (safe to show in logs and errors)."""
    return _PASSWORD.sub(lambda m: (m.group(1) or m.group(2)) + "***" + ("@" * bool(m[1])), url)


def is_postgres_url(db: str) -> bool:
    """Whether ``--db`` names a PostgreSQL database (``postgresql://`` or ``postgres://``)."""
    return db.startswith(("postgresql://", "postgres://"))


def require_psycopg() -> Any:
    """The psycopg module, or a :class:`StoreError` saying to install the extra."""
    try:
        import psycopg
    except ImportError:
        raise StoreError(
            "PostgreSQL support is not installed: pip install 'durable[postgres]' "
            "(psycopg 3 and psycopg_pool)",
            reason="database_error",
        ) from None
    return psycopg


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    """A connection to ``url`` with durable's session settings; faults as StoreError."""
    pg = require_psycopg()
    try:
        conn: psycopg.Connection[Any] = pg.connect(
            url,
            autocommit=autocommit,
            connect_timeout=CONNECT_TIMEOUT,
            application_name="durable",
            # enable_seqscan=off: durable's statements are index look-ups of a few keys, and
            # many-row batches (``postgres_queue.py``); on a new or fast-growing table the
            # statistics lag and the planner scanned ``runs`` whole for a 100-row batch
            # (bench/pg_throughput.py: 1,000-2,000 steps/s, now ~2,000 each run). A
            # statement no index serves still gets its sequential scan, priced so high that
            # JIT would compile it (100+ ms, during which clock_timestamp() moves on: a
            # server that had just beaten looked dead): jit=off, pointless for such
            # statements anyway. force_custom_plan: psycopg prepares a statement run 5
            # times, and PostgreSQL may then switch it to a generic plan, made without the
            # batch's arrays; for the unnest batches that plan cost the backends 2-4x the
            # CPU per step, in some runs and not others (bench/pg_throughput.py, 1 server:
            # 1,950-3,000 steps/s, 0.16-0.29 ms backend CPU per step; custom plans:
            # 3,300-4,700 and 0.07-0.09). Planning these statements costs microseconds.
            options=(
                f"-c lock_timeout={LOCK_TIMEOUT_MS} -c TimeZone=UTC "
                f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS} "
                "-c enable_seqscan=off -c jit=off -c plan_cache_mode=force_custom_plan"
            ),
        )
    except pg.Error as exc:
        raise connect_error(exc, url) from None
    return conn


def connect_error(exc: Exception, url: str) -> StoreError:
    """The StoreError of a failed connection attempt, naming why it failed."""
    where = redact(url)
    text = str(exc).strip()
    lowered = text.lower()
    if "password authentication failed" in lowered or "no pg_hba.conf entry" in lowered:
        return StoreError(
            f"PostgreSQL at {where} refused the credentials ({_first_line(text)}); check the "
            "user and password in --db",
            reason="database_error",
            path=where,
        )
    if "role" in lowered and "does not exist" in lowered:
        return StoreError(
            f"PostgreSQL at {where} has no such user ({_first_line(text)})",
            reason="database_error",
            path=where,
        )
    if "database" in lowered and "does not exist" in lowered:
        return StoreError(
            f"the database named in {where} does not exist ({_first_line(text)}); create it "
            "(createdb NAME) or name another one in --db",
            reason="database_error",
            path=where,
        )
    if "invalid" in lowered and ("dsn" in lowered or "connection option" in lowered):
        return StoreError(
            f"--db {where} is not a valid PostgreSQL URL ({_first_line(text)})",
            reason="database_error",
            path=where,
        )
    return StoreError(
        f"PostgreSQL at {where} is unreachable ({_first_line(text)}); is the server running "
        "and the host and port right?",
        reason="database_unreachable",
        path=where,
    )


def store_error(exc: Exception, url: str) -> StoreError | None:
    """The :class:`StoreError` that names a database fault, or None for a statement's bug."""
    psycopg = require_psycopg()
    errors = psycopg.errors
    where = redact(url)
    if isinstance(exc, errors.LockNotAvailable | errors.DeadlockDetected):
        return StoreError(
            f"PostgreSQL at {where}: a row this write needs is held by another server "
            f"(waited up to {LOCK_TIMEOUT_MS / 1000:g}s): {_first_line(str(exc))}; durable "
            "retries",
            reason="database_locked",
            path=where,
        )
    if isinstance(exc, errors.SerializationFailure):
        return StoreError(
            f"PostgreSQL at {where}: a concurrent write conflicted; durable retries",
            reason="database_locked",
            path=where,
        )
    if isinstance(exc, errors.DiskFull | errors.OutOfMemory | errors.InsufficientResources):
        return StoreError(
            f"PostgreSQL at {where} cannot take the write: {_first_line(str(exc))}; durable "
            "retries the writes that failed",
            reason="database_full",
            path=where,
        )
    if isinstance(exc, errors.DataCorrupted | errors.IndexCorrupted):
        return StoreError(
            f"PostgreSQL at {where} reports damaged data: {_first_line(str(exc))}",
            reason="database_damaged",
            path=where,
        )
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return StoreError(
            f"PostgreSQL at {where} is unreachable or closed the connection "
            f"({_first_line(str(exc))}); durable reconnects and retries",
            reason="database_unreachable",
            path=where,
        )
    return None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no detail"
