#!/usr/bin/env bash
# What the tests need from the system beyond the Rust toolchain, installed from Debian's
# packages when missing: libpq (diesel's PostgreSQL backend links it), psql's tools,
# Chromium with chromedriver for the browser tests, jq (README's walk-through uses it), and
# the checkers of the compose stack's files (no container engine runs here): Compose's
# own loader (docker-compose), haproxy and promtool (package prometheus; its service is
# not started where policy forbids it, and it has nothing to scrape otherwise).
# Idempotent; root or sudo for apt-get.
set -euo pipefail

missing=()
dpkg -s libpq-dev >/dev/null 2>&1 || missing+=(libpq-dev)
command -v pg_isready >/dev/null 2>&1 || missing+=(postgresql-client)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
command -v jq >/dev/null 2>&1 || missing+=(jq)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
