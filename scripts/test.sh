#!/usr/bin/env bash
# The test command: installs what is needed, makes sure PostgreSQL is up, then runs
# the linters and every test (unit, integration against a real Tansu broker and a real
# PostgreSQL, crash and restart tests, and the benchmark smoke run).
# PostgreSQL: DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export DATABASE_URL=${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}

if ! .venv/bin/python - <<'PY' 2>/dev/null
import os, psycopg
psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=3).close()
PY
then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "starting the local PostgreSQL cluster"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    for _ in $(seq 1 30); do
      .venv/bin/python -c "import os, psycopg; psycopg.connect(os.environ['DATABASE_URL'], connect_timeout=2).close()" 2>/dev/null && break
      sleep 1
    done
  else
    echo "PostgreSQL is not reachable at $DATABASE_URL and no local cluster was found" >&2
    exit 1
  fi
fi

.venv/bin/ruff check .
.venv/bin/python -m schemas.compat check
.venv/bin/pytest "$@"
