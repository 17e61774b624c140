#!/usr/bin/env bash
# The test command: lint, format check, type check, then the whole pytest suite against a fresh
# throw-away Postgres database and the real Redis. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-.venv}"

"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
"$venv/bin/mypy"

database="reflectseq_ci_$$"
psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $database"
trap 'psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $database WITH (FORCE)"' EXIT
export REFLECTSEQ_TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:5432/$database"

report="$(mktemp -t reflectseq-junit-XXXXXX.xml)"
status=0
"$venv/bin/pytest" -n "${PYTEST_WORKERS:-auto}" --junitxml="$report" "$@" || status=$?
if [ "$status" -ne 0 ]; then
  # Exit 5 means pytest collected no test at all: that is a failure here, never a pass.
  [ "$status" -eq 5 ] && echo "test: pytest collected no tests" >&2
  exit "$status"
fi
"$venv/bin/python" - "$report" <<'PY'
import sys
import xml.etree.ElementTree as ET

suite = ET.parse(sys.argv[1]).getroot()
suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
ran = int(suite.get("tests", 0)) - int(suite.get("skipped", 0))
if ran <= 0:
    sys.exit("test: no test ran (all skipped or none collected)")
PY
