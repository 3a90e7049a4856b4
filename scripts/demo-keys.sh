#!/usr/bin/env bash
# Creates the demo key store of the embedded defaults, once: an internal CA for
# example.org and two users, alice@example.org (RSA-2048) and bob@example.org (EC P-256),
# each with a certificate and an encrypted secret key. Usage: demo-keys.sh BIN CONFIG
set -euo pipefail
bin="$1"
config="$2"
if "$bin" keys -c "$config" list >/dev/null 2>&1; then
  echo "demo keys: key store already initialised"
  exit 0
fi
"$bin" keys -c "$config" init
"$bin" keys -c "$config" ca init --domain example.org
"$bin" keys -c "$config" generate alice@example.org --algorithm rsa2048
"$bin" keys -c "$config" generate bob@example.org --algorithm p256
"$bin" keys -c "$config" generate alice@example.org --openpgp
"$bin" keys -c "$config" generate carol@example.org --openpgp
"$bin" keys -c "$config" list
