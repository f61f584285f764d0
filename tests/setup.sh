#!/usr/bin/env bash
# What the tests need from the system beyond the Rust toolchain, installed from Debian's
# packages when missing: libpq (diesel's PostgreSQL backend links it), psql's tools,
# Chromium with chromedriver for the browser tests, and jq (README's walk-through uses it).
# Idempotent; root or sudo for apt-get.
set -euo pipefail

missing=()
dpkg -s libpq-dev >/dev/null 2>&1 || missing+=(libpq-dev)
command -v pg_isready >/dev/null 2>&1 || missing+=(postgresql-client)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
command -v jq >/dev/null 2>&1 || missing+=(jq)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
