#!/usr/bin/env bash
# Installs every build and test dependency of mailseal on Debian bookworm (run as root).
# Idempotent. Postfix is installed without configuration: the tests start their own
# instances on loopback; no system mail service is enabled.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

packages=(
  # build
  build-essential cmake ninja-build ccache pkg-config clang-format
  libboost1.81-dev libssl-dev libgmime-3.0-dev librnp-dev libtomlplusplus-dev libcli11-dev
  libspdlog-dev libfmt-dev libsqlite3-dev libunbound-dev libldap-dev libpq-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # tests: real peers and tools
  python3 python3-pytest postfix swaks openssl gnupg gpgsm sq rnp dovecot-imapd dovecot-lmtpd faketime
  ca-certificates iproute2 procps
  # PKCS#11 key source: libp11 (token keys as EVP_PKEYs), the C API header (p11-kit),
  # SoftHSM2 as the tests' token and pkcs11-tool (opensc) to inspect it
  libp11-dev libp11-kit-dev softhsm2 opensc
  # DNS/DANE tests: a private NSD per test on a loopback port, zones signed with ldns
  nsd ldnsutils
  # LDAP key source tests: the tests start their own slapd (never the system one)
  slapd ldap-utils
  # PostgreSQL key store tests: the tests run their own server (initdb + pg_ctl), never
  # the system cluster; runuser (util-linux) starts it as the postgres user under root
  postgresql util-linux
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  echo "slapd slapd/no_configuration boolean true" | $SUDO debconf-set-selections
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The packages may have started daemons; the tests run their own instances.
for svc in postfix dovecot slapd nsd postgresql; do
  $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
echo "install-deps: all dependencies present"
