#!/usr/bin/env bash
# The DBOS Transact peer bench in its own virtualenv (bench/peers/dbos/.venv): DBOS is not a
# dependency of durable. Makes the venv on first use, then runs peer.py with any arguments,
# e.g. `bench/peers/dbos/run.sh --runs 1000`. PostgreSQL: DURABLE_TEST_PG (or --pg URL).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet -r "$here/requirements.txt"
fi
exec "$venv/bin/python" "$here/peer.py" "$@"
