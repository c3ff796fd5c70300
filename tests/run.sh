#!/usr/bin/env bash
# Herald's one test command: installs what the tests need, then runs every check and test.
# Used as is by CI (.ci/run). Runs from any directory.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
started=$SECONDS
step() { printf '\n==> %s (at %ss)\n' "$*" "$((SECONDS - started))"; }
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
need curl || apt_install curl
python3 -c 'import venv' 2>/dev/null || apt_install python3-venv

step "format (cargo fmt --check)"
cargo fmt --all -- --check

step "lint (cargo clippy -D warnings)"
cargo clippy --workspace --all-targets -- -D warnings
# The local server with Amazon SES (its `ses` feature), which the default build leaves out.
cargo clippy -p herald-local --features ses -- -D warnings

step "the engine core depends on no AWS, Lambda, HTTP-server or storage crate"
forbidden='^(aws-|lambda_|hyper|axum|tower|reqwest|rusqlite|libsqlite3-sys) '
if cargo tree -p herald-core -e normal --prefix none | grep -E "$forbidden"; then
  echo "herald-core must stay pure; the crates above do not belong in it" >&2
  exit 1
fi
echo "ok: herald-core is pure"

step "AWS-compatible test server (moto, server mode, loopback)"
if [ ! -x tests/.venv-aws/bin/python ]; then python3 -m venv tests/.venv-aws; fi
tests/.venv-aws/bin/pip install -q --disable-pip-version-check -r tests/aws/requirements.txt
moto_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
tests/.venv-aws/bin/python tests/aws/moto_server.py "$moto_port" >"${TMPDIR:-/tmp}/herald-moto.log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true' EXIT
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true
for _ in $(seq 1 100); do
  curl -fs -o /dev/null -X POST "$AWS_ENDPOINT_URL/moto-api/reset" && break
  kill -0 "$moto_pid" 2>/dev/null || { cat "${TMPDIR:-/tmp}/herald-moto.log" >&2; exit 1; }
  sleep 0.1
done
echo "moto listening on $AWS_ENDPOINT_URL"

step "delivery servers on loopback (aiosmtpd SMTP, a webhook receiver verifying with standardwebhooks)"
tests/.venv-aws/bin/pip install -q --disable-pip-version-check -r tests/delivery/requirements.txt
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
smtp_port="$(free_port)"
receiver_port="$(free_port)"
# A fresh signing secret per run, in the Standard Webhooks form (whsec_ + base64 of 24 bytes).
export HERALD_TEST_WEBHOOK_SECRET="whsec_$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(24)).decode())')"
tests/.venv-aws/bin/python tests/delivery/servers.py "$smtp_port" "$receiver_port" "$HERALD_TEST_WEBHOOK_SECRET" \
  >"${TMPDIR:-/tmp}/herald-delivery-servers.log" 2>&1 &
servers_pid=$!
trap 'kill "$moto_pid" "$servers_pid" 2>/dev/null || true' EXIT
export HERALD_TEST_SMTP_PORT="$smtp_port" HERALD_TEST_RECEIVER_URL="http://127.0.0.1:$receiver_port"
for _ in $(seq 1 100); do
  curl -fs -o /dev/null "$HERALD_TEST_RECEIVER_URL/_hooks" && break
  kill -0 "$servers_pid" 2>/dev/null || { cat "${TMPDIR:-/tmp}/herald-delivery-servers.log" >&2; exit 1; }
  sleep 0.1
done
echo "SMTP on 127.0.0.1:$smtp_port, webhook receiver on $HERALD_TEST_RECEIVER_URL"

step "build the local server"
cargo build -p herald-local

step "Rust tests: unit, engine on an injected clock, store conformance (SQLite and DynamoDB on moto), end to end over HTTP"
cargo test --workspace

step "template.yaml: cfn-lint, sam validate, and cfn-lint of the SAM template translated to CloudFormation"
(
  export PATH="$root/tests/.venv-aws/bin:$PATH" AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0
  cfn-lint template.yaml
  sam validate -t template.yaml
  tests/.venv-aws/bin/python tests/aws/sam_to_cfn.py template.yaml "${TMPDIR:-/tmp}/herald-cfn.json"
  cfn-lint "${TMPDIR:-/tmp}/herald-cfn.json"
  echo "ok: template is clean"
)

step "sam build (rust-cargolambda builder, no Docker; x86_64 as this machine has no arm64 std)"
(
  export PATH="$root/tests/.venv-aws/bin:$PATH" AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0
  # This checks that SAM builds every function from the template, not how well they are
  # optimised: skip the release profile's whole-program LTO here (half of this script's time
  # otherwise). A deploy's `sam build` keeps it.
  export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
  sam build --beta-features --parameter-overrides Stage=dev Architecture=x86_64
  for fn in TriggerFunction CancelFunction StepResumeFunction ApiFunction; do
    test -x ".aws-sam/build/$fn/bootstrap" || { echo "sam build produced no $fn/bootstrap" >&2; exit 1; }
    echo "$fn: $(du -h ".aws-sam/build/$fn/bootstrap" | cut -f1)"
  done
)

step "official SDK clients: install"
(cd tests/sdk/node && npm install --no-package-lock --no-audit --no-fund --loglevel=error)
if [ ! -x tests/sdk/python/.venv/bin/python ]; then python3 -m venv tests/sdk/python/.venv; fi
tests/sdk/python/.venv/bin/pip install -q --disable-pip-version-check -r tests/sdk/python/requirements.txt

step "@knocklabs/node against Herald"
tests/sdk/with-server.sh bash -c 'cd tests/sdk/node && node --test --test-reporter=spec'

step "knockapi (Python) against Herald"
tests/sdk/with-server.sh tests/sdk/python/.venv/bin/python -m pytest -q -p no:cacheprovider tests/sdk/python

step "all tests passed"
