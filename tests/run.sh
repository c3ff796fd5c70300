#!/usr/bin/env bash
# Herald's one test command: installs what the tests need, then runs every check and test.
# Used as is by CI (.ci/run). Runs from any directory.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
step() { printf '\n==> %s\n' "$*"; }
need() { command -v "$1" >/dev/null 2>&1; }
apt_install() {
  if [ -z "${HERALD_APT_UPDATED:-}" ]; then apt-get update -qq; export HERALD_APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

step "tools"
need cargo || { echo "cargo (rustup) is required" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
need node && need npm || apt_install nodejs npm
need python3 || apt_install python3 python3-venv
python3 -c 'import venv' 2>/dev/null || apt_install python3-venv

step "format (cargo fmt --check)"
cargo fmt --all -- --check

step "lint (cargo clippy -D warnings)"
cargo clippy --workspace --all-targets -- -D warnings

step "the engine core depends on no AWS, Lambda, HTTP-server or storage crate"
forbidden='^(aws-|lambda_|hyper|axum|tower|reqwest|rusqlite|libsqlite3-sys) '
if cargo tree -p herald-core -e normal --prefix none | grep -E "$forbidden"; then
  echo "herald-core must stay pure; the crates above do not belong in it" >&2
  exit 1
fi
echo "ok: herald-core is pure"

step "build the local server"
cargo build -p herald-local

step "Rust tests: unit, engine on an injected clock, store conformance, end to end over HTTP"
cargo test --workspace

step "official SDK clients: install"
(cd tests/sdk/node && npm install --no-package-lock --no-audit --no-fund --loglevel=error)
if [ ! -x tests/sdk/python/.venv/bin/python ]; then python3 -m venv tests/sdk/python/.venv; fi
tests/sdk/python/.venv/bin/pip install -q --disable-pip-version-check -r tests/sdk/python/requirements.txt

step "@knocklabs/node against Herald"
tests/sdk/with-server.sh bash -c 'cd tests/sdk/node && node --test --test-reporter=spec'

step "knockapi (Python) against Herald"
tests/sdk/with-server.sh tests/sdk/python/.venv/bin/python -m pytest -q -p no:cacheprovider tests/sdk/python

step "all tests passed"
