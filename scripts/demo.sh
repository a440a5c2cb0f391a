#!/usr/bin/env bash
# The main job: installs what is missing, then runs the whole system on this machine (Mosquitto, InfluxDB, the hub
# and simulated edge nodes) and prints a live summary. Arguments go to `iocgw demo` (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/iocgw demo "$@"
