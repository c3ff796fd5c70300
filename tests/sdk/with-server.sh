#!/usr/bin/env bash
# Runs a command against a fresh Herald: starts the built binary on a free loopback port with the
# test workflows, exports KNOCK_BASE_URL and KNOCK_API_KEY for the official SDKs, then stops it.
# Usage: tests/sdk/with-server.sh <command> [args…]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${HERALD_BIN:-$root/target/debug/herald}"
data="$(mktemp -d)"
out="$data/stdout"
# A user-token signing key pair, as a team generates one: the private half (PKCS#8, the form
# `signUserToken` reads) for the tests, the public half for Herald.
node -e '
const { generateKeyPairSync } = require("node:crypto");
const fs = require("node:fs");
const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
fs.writeFileSync(process.argv[1], privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
fs.writeFileSync(process.argv[2], publicKey.export({ type: "spki", format: "pem" }));
' "$data/signing.pem" "$data/signing.pub.pem"
# Two more keys in HERALD_API_KEYS, as during a rotation: any of the three is accepted.
HERALD_PUBLISHABLE_KEYS=pk_test_sdk HERALD_USER_TOKEN_PUBLIC_KEY="$(cat "$data/signing.pub.pem")" \
  HERALD_ADDR=127.0.0.1:0 HERALD_DATA_DIR="$data" HERALD_API_KEY=sk_test_sdk \
  HERALD_API_KEYS="sk_test_sdk_next, sk_test_sdk_third" \
  HERALD_ALLOW_PRIVATE_NETWORKS=1 HERALD_DELIVERY_TIMEOUT_SECS=3 \
  HERALD_WORKFLOWS_DIR="$root/tests/fixtures/workflows" RUST_LOG=warn "$bin" >"$out" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 200); do
  url="$(sed -n 's/^Herald listening on //p' "$out")"
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || { echo "herald exited early" >&2; exit 1; }
  sleep 0.05
done
[ -n "$url" ] || { echo "herald did not start" >&2; exit 1; }
export KNOCK_BASE_URL="$url" KNOCK_API_KEY=sk_test_sdk HERALD_TEST_SECOND_KEY=sk_test_sdk_next \
  HERALD_TEST_PUBLISHABLE_KEY=pk_test_sdk KNOCK_SIGNING_KEY="$(cat "$data/signing.pem")"
"$@"
