#!/usr/bin/env bash
# The test command: installs what is missing, then runs ruff and the whole suite (real Mosquitto and InfluxDB,
# started by the tests themselves on free loopback ports).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== ruff" >&2
.venv/bin/ruff check --output-format concise .
.venv/bin/ruff format --check --quiet .
echo "== pytest" >&2
exec .venv/bin/python -m pytest -q "$@"
