#!/usr/bin/env bash
# Sets up mailseal on a fresh Debian bookworm machine and runs it on the embedded
# defaults (config/mailseal.toml): installs dependencies (apt-get, needs root), builds,
# creates the state directory ./var, and runs the gateway in the foreground.
# Stop it with Ctrl-C (SIGINT: transactions in flight are finished first).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export CCACHE_DIR="${CCACHE_DIR:-$PWD/.ccache}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build mailseal
mkdir -p var
if [ -x scripts/demo-keys.sh ]; then scripts/demo-keys.sh build/src/mailseal config/mailseal.toml; fi
echo "mailseal: inside 127.0.0.1:10025 -> var/outbound/new, outside 127.0.0.1:10026 -> var/mail/<rcpt>/new"
exec build/src/mailseal serve --config config/mailseal.toml
