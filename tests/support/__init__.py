"""Helpers shared by the test folders (and the bench scripts): plain modules, not tests.

Test modules import shared code from here, never from another test module or a conftest
(``tests/test_layout.py`` checks). conftest files keep only fixtures, built on these modules.

* :mod:`tests.support.harness` - a real ``durable dev`` subprocess (also used by ``bench/``);
* :mod:`tests.support.live` - an in-process dev server on a free port (``live_server``);
* :mod:`tests.support.live_app` - the app that server runs;
* :mod:`tests.support.extra_functions` - functions a test adds to a running server;
* :mod:`tests.support.held` - a run held back because its function is not loaded;
* :mod:`tests.support.records` - store records for the store tests (a queued run);
* :mod:`tests.support.cli` - the CLI tests' ``invoke`` type and ``durable replay`` helpers;
* :mod:`tests.support.hostile` - hypothesis settings, strategies and asserts for hostile input;
* :mod:`tests.support.tui_pilot` - reading the inspector's screen, waiting on a pilot;
* :mod:`tests.support.tui_stub` - a stand-in for the inspector's API client, canned data;
* :mod:`tests.support.postgres` - this session's PostgreSQL database (``DURABLE_TEST_PG``);
  :mod:`tests.support.pg_server` - which server, and whether it is reachable (no pytest: the
  benches use it too).

Nothing here may need the test extras at import time in :mod:`~tests.support.harness`
(``make bench`` and ``make soak`` run without them).
"""
