#!/usr/bin/env bash
# Installs the Debian packages the tests use outside npm (test/helpers/tools.ts lists which test
# needs which): without them those tests are skipped, and `npm test` names them in its last line.
# Needs root (or sudo) and apt; .ci/run calls it so that CI skips nothing.
set -euo pipefail

packages=(
  prometheus                                 # promtool, prometheus
  prometheus-pushgateway                     # the official gateway, for the differential tests
  python3-prometheus-client                  # the Python client
  python3-snappy                             # snappy bodies as the Python client compresses them
  golang-go                                  # go, to build the Go client pushers
  golang-github-prometheus-client-golang-dev # client_golang sources
  chromium                                   # the web UI tests (headless)
  docker-compose                             # docker-compose config checks
  curl gzip openssl e2fsprogs                # examples, gzip cross-checks, TLS certificates, chattr
)

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup-test-tools: run as root or install sudo" >&2; exit 1; }
  sudo=(sudo)
fi
if ! command -v apt-get >/dev/null; then
  echo "setup-test-tools: needs apt-get (Debian or Ubuntu); install by hand: ${packages[*]}" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-test-tools: all installed"
  exit 0
fi
echo "setup-test-tools: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
