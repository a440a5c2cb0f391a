#!/usr/bin/env bash
# Installs everything iocgw needs on a fresh Debian/Ubuntu machine: Mosquitto and InfluxDB from Debian's
# packages when absent (root needed for that), then a virtualenv in .venv with the package and its dev tools, at the
# versions constraints.txt pins (docs/install.md).
# Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_pkgs+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || need_pkgs+=(mosquitto-clients)
command -v influxd >/dev/null 2>&1 || [ -x /usr/bin/influxd ] || need_pkgs+=(influxdb)
# The operator page is tested in a real headless browser (Playwright drives Debian's Chromium; nothing downloaded).
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
# SMS warnings are tested through a real Kannel (bearerbox, smsbox) and its fake SMSC, shipped in kannel-extras.
[ -x /usr/sbin/bearerbox ] || need_pkgs+=(kannel)
[ -x /usr/lib/kannel/test/fakesmsc ] || need_pkgs+=(kannel-extras)
# The clustered alert store (docs/scaling-alerts-design.md) is tested on a real PostgreSQL (testkit.localsvc).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1 || need_pkgs+=(postgresql)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "setup: installing ${need_pkgs[*]} from Debian's packages" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to apt-get install ${need_pkgs[*]} (run with sudo)" >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d stops the packages' own services from starting: iocgw runs its own instances.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "setup: Python 3.11 or newer is required ($PY is $("$PY" --version 2>&1))" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PY" -m venv .venv
fi
stamp=.venv/.iocgw-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  echo "setup: installing iocgw and its dependencies into .venv (versions from constraints.txt)" >&2
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -c constraints.txt -e '.[dev]'
  touch "$stamp"
fi
