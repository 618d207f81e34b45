"""The PostgreSQL schema: numbered migrations, applied under an advisory lock.

Times the orchestration compares (``ready_at``, ``deadline_at``, claims' windows...) are epoch
seconds as ``double precision``, as in SQLite; a server's heartbeat is the database's own
clock (``timestamptz``), so that servers whose clocks disagree still agree on who is dead.
JSON values are ``jsonb``, except a run's and a step's ``output``: JSON *text* whose exact
spelling is part of the record.
"""

from __future__ import annotations

#: The key of the advisory lock held while migrating (any constant both sides agree on).
MIGRATION_LOCK = 0x647572626C65  # "durable"
#: The first key of the advisory locks per event name (the second: the name's hashtext).
EVENT_NAME_LOCKS = 0x64757262  # "durb"

#: Schema migrations, applied in order; ``durable_schema.version`` is the number applied.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        run_id text PRIMARY KEY,
        function_id text NOT NULL,
        status text NOT NULL,
        created_at double precision NOT NULL,
        started_at double precision,
        ended_at double precision,
        ready_at double precision,
        attempt integer NOT NULL DEFAULT 0,
        trigger text NOT NULL,
        parent_run_id text,
        parent_step_key text,
        cancel_reason text,
        cancel_event_id text,
        idempotency_key text,
        concurrency_keys jsonb NOT NULL DEFAULT '[]',
        output text,
        error jsonb,
        event jsonb NOT NULL,
        events jsonb NOT NULL DEFAULT '[]',
        deadline_at double precision,
        deadline_reason text,
        owner text,
        epoch bigint NOT NULL DEFAULT 0
    );
    CREATE INDEX runs_deadline ON runs (deadline_at)
        WHERE deadline_at IS NOT NULL AND status NOT IN ('completed', 'failed', 'cancelled');
    CREATE INDEX runs_ready ON runs (ready_at, created_at)
        WHERE ready_at IS NOT NULL AND status NOT IN ('completed', 'failed', 'cancelled');
    CREATE INDEX runs_created ON runs (created_at, run_id);
    CREATE INDEX runs_status ON runs (status, created_at, run_id);
    CREATE INDEX runs_function ON runs (function_id, created_at, run_id);
    CREATE INDEX runs_unfinished ON runs (status)
        WHERE status NOT IN ('completed', 'failed', 'cancelled');
    CREATE INDEX runs_owner ON runs (owner) WHERE owner IS NOT NULL;
    CREATE TABLE steps (
        run_id text NOT NULL,
        key text NOT NULL,
        id text NOT NULL,
        kind text NOT NULL,
        status text NOT NULL,
        position integer NOT NULL,
        output text,
        error jsonb,
        attempts jsonb NOT NULL DEFAULT '[]',
        wake_at double precision,
        detail jsonb NOT NULL DEFAULT '{}',
        started_at double precision,
        ended_at double precision,
        PRIMARY KEY (run_id, key)
    );
    CREATE TABLE events (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id text NOT NULL,
        name text NOT NULL,
        data jsonb NOT NULL,
        ts bigint NOT NULL,
        user_data jsonb,
        received_at double precision NOT NULL,
        run_ids jsonb NOT NULL DEFAULT '[]',
        skipped text
    );
    CREATE INDEX events_id ON events (id, seq);
    CREATE INDEX events_name ON events (name, seq);
    CREATE INDEX events_name_received ON events (name, received_at);
    CREATE TABLE event_ids (
        id text PRIMARY KEY,
        claimed_at double precision NOT NULL
    );
    CREATE TABLE waits (
        run_id text NOT NULL,
        step_key text NOT NULL,
        event_name text NOT NULL,
        condition text,
        expires_at double precision NOT NULL,
        since double precision NOT NULL,
        kind text NOT NULL DEFAULT 'step',
        match_field text,
        match_value text,
        PRIMARY KEY (run_id, step_key)
    );
    CREATE INDEX waits_event ON waits (event_name, match_field, match_value);
    CREATE TABLE logs (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        run_id text NOT NULL,
        ts double precision NOT NULL,
        level text NOT NULL,
        message text NOT NULL,
        step_key text
    );
    CREATE INDEX logs_run ON logs (run_id, seq);
    CREATE TABLE idempotency (
        function_id text NOT NULL,
        key text NOT NULL,
        run_id text NOT NULL,
        claimed_at double precision NOT NULL,
        PRIMARY KEY (function_id, key)
    );
    CREATE TABLE crons (
        function_id text NOT NULL,
        cron text NOT NULL,
        next_at double precision NOT NULL,
        PRIMARY KEY (function_id, cron)
    );
    CREATE TABLE servers (
        server_id text PRIMARY KEY,
        pid integer NOT NULL,
        host text NOT NULL DEFAULT '',
        started_at double precision NOT NULL,
        heartbeat_at timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    """,
    # 2: a run made ready while a server holds it is flagged (when) and due when released;
    # retention finds what expired from indexes;
    # flow control (SPEC 7): why a run is held back and its priority, the concurrency slots
    # each run holds, GCRA arrival times, the pending debounce, open batch and singleton
    # holder of each (function, key).
    """
    ALTER TABLE runs ADD COLUMN rerun_at double precision;
    ALTER TABLE runs ADD COLUMN queued_reason text;
    ALTER TABLE runs ADD COLUMN priority double precision NOT NULL DEFAULT 0;
    DROP INDEX runs_ready;
    CREATE INDEX runs_ready ON runs ((ready_at - priority), created_at)
        WHERE ready_at IS NOT NULL AND status NOT IN ('completed', 'failed', 'cancelled');
    CREATE INDEX runs_ended ON runs (ended_at) WHERE ended_at IS NOT NULL;
    CREATE INDEX events_received ON events (received_at);
    CREATE INDEX event_ids_claimed ON event_ids (claimed_at);
    CREATE INDEX idempotency_claimed ON idempotency (claimed_at);
    CREATE TABLE flow_holds (
        key text NOT NULL,
        run_id text NOT NULL,
        PRIMARY KEY (key, run_id)
    );
    CREATE INDEX flow_holds_run ON flow_holds (run_id);
    CREATE TABLE flow_slots (
        key text PRIMARY KEY,
        in_use integer NOT NULL
    );
    CREATE TABLE flow_gcra (
        key text PRIMARY KEY,
        tat double precision NOT NULL
    );
    CREATE TABLE flow_debounces (
        function_id text NOT NULL,
        key text NOT NULL,
        run_id text NOT NULL,
        first_at double precision NOT NULL,
        due_at double precision NOT NULL,
        PRIMARY KEY (function_id, key)
    );
    CREATE TABLE flow_batches (
        function_id text NOT NULL,
        key text NOT NULL,
        run_id text NOT NULL,
        size integer NOT NULL,
        PRIMARY KEY (function_id, key)
    );
    CREATE TABLE flow_singletons (
        function_id text NOT NULL,
        key text NOT NULL,
        run_id text NOT NULL,
        PRIMARY KEY (function_id, key)
    );
    """,
    # 3: live updates across servers (devserver/stream.py): every run write stamps the run
    # with the database clock, the writing transaction's id and the writing server; a
    # server's stream reads the runs other servers changed since its last look, by
    # transaction id against that look's snapshot (commit order, not clock order). Added
    # without defaults: no rewrite of the existing rows (they stay NULL until next written).
    """
    ALTER TABLE runs ADD COLUMN updated_at double precision;
    ALTER TABLE runs ADD COLUMN updated_xid xid8;
    ALTER TABLE runs ADD COLUMN updated_by text;
    CREATE INDEX runs_updated ON runs (updated_xid) WHERE updated_xid IS NOT NULL;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)

#: The tables of the schema (tests empty them between cases).
TABLES = (
    "runs",
    "steps",
    "events",
    "event_ids",
    "waits",
    "logs",
    "idempotency",
    "crons",
    "servers",
    "flow_holds",
    "flow_slots",
    "flow_gcra",
    "flow_debounces",
    "flow_batches",
    "flow_singletons",
)
