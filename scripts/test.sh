#!/usr/bin/env bash
# The test command: installs what is missing, then runs ruff, the import layers (.importlinter), mypy (mypy.ini),
# the install-profile checks (each role's extra in a
# clean virtualenv, started for real) and the whole suite (real Mosquitto and InfluxDB, started by the tests
# themselves on free loopback ports). A failed profile check fails the run, after pytest has run all the same;
# pytest's own exit code wins when it is not 0.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== ruff" >&2
.venv/bin/ruff check --output-format concise .
.venv/bin/ruff format --check --quiet .
echo "== import layers (.importlinter)" >&2
.venv/bin/lint-imports --no-cache >/dev/null || .venv/bin/lint-imports --no-cache
echo "== mypy (mypy.ini)" >&2
.venv/bin/mypy
echo "== install profiles (scripts/check_profiles.py)" >&2
profiles=0
.venv/bin/python scripts/check_profiles.py || profiles=$?
echo "== pytest" >&2
status=0
.venv/bin/python -m pytest -q "$@" || status=$?
if [ "$status" -ne 0 ]; then
  exit "$status"
fi
if [ "$profiles" -ne 0 ]; then
  echo "test: the install-profile checks failed (see '== install profiles' above)" >&2
fi
exit "$profiles"
