#!/usr/bin/env bash
# Prints Herald's figures: local latency (trigger, wake-up lateness), write throughput under
# concurrency (group commit, 2,000 runs due together), the 100,000-subscriber
# fan-out rate and memory, batches, delivery throughput (webhooks, SMTP), the chaos run (kill -9
# under load), a 10 MB trigger for 1,000 recipients (memory), and the AWS request counts
# per operation, counted on the real SDK calls against moto, and what a million delayed
# notifications cost on AWS; then the peer benchmark (BullMQ on Redis, installed on first use)
# and the time of a first start from a fresh clone. Run after `bash tests/run.sh` has
# installed the tools once.
set -euo pipefail
cd "$(dirname "$0")/.."
printf '==> local latency (release build)\n'
cargo bench -p herald-tests --bench latency 2>/dev/null

printf '\n==> throughput: 5,000 delayed triggers, 50 in flight, half cancelled (release build, file-backed store)\n'
cargo bench -p herald-tests --bench throughput 2>/dev/null

printf '\n==> subscriber fan-out, 100,000 subscribers (release build, file-backed store)\n'
cargo bench -p herald-tests --bench fanout 2>/dev/null

printf '\n==> batches: 1,000 parallel triggers into one window (release build, file-backed store)\n'
cargo bench -p herald-tests --bench batch 2>/dev/null

printf '\n==> delivery throughput: webhooks and SMTP on loopback (release build, file-backed store)\n'
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
smtp_port="$(free_port)"; receiver_port="$(free_port)"
export HERALD_TEST_WEBHOOK_SECRET="whsec_$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(24)).decode())')"
tests/.venv-aws/bin/python tests/delivery/servers.py "$smtp_port" "$receiver_port" "$HERALD_TEST_WEBHOOK_SECRET" >/dev/null 2>&1 &
servers_pid=$!
trap 'kill "$servers_pid" 2>/dev/null || true' EXIT
export HERALD_TEST_SMTP_PORT="$smtp_port" HERALD_TEST_RECEIVER_URL="http://127.0.0.1:$receiver_port"
until curl -fs -o /dev/null "$HERALD_TEST_RECEIVER_URL/_hooks"; do sleep 0.1; done
cargo bench -p herald-tests --bench delivery 2>/dev/null

printf '\n==> chaos: 2,000 delayed triggers, 500 cancels, 5 kill -9 and restarts of the debug server\n'
cargo build -q -p herald-local
cargo bench -p herald-tests --bench chaos 2>/dev/null

printf '\n==> large data: one trigger of 10 MB for 1,000 recipients, peak memory (release server)\n'
cargo build -q --profile local -p herald-local
HERALD_BIN="$PWD/target/local/herald" cargo test -q -p herald-tests --test herald \
  large_data::ten_megabytes -- --nocapture 2>&1 | grep '^10 MB'

printf '\n==> AWS request budgets (moto on loopback)\n'
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
tests/.venv-aws/bin/python tests/aws/moto_server.py "$port" >/dev/null 2>&1 &
pid=$!
trap 'kill "$pid" "$servers_pid" 2>/dev/null || true' EXIT
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test \
  AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true
until curl -fs -o /dev/null -X POST "$AWS_ENDPOINT_URL/moto-api/reset"; do sleep 0.1; done
cargo test -q -p herald-tests --test herald lambda_handlers::aws_request_budgets -- --nocapture 2>&1 | grep '^budget:'
cargo test -q -p herald-tests --test herald fanout_dynamodb::aws_request_budget -- --nocapture 2>&1 | grep '^budget:'
cargo test -q -p herald-tests --test herald delivery_aws::an_email_on_ses -- --nocapture 2>&1 | grep '^budget:'

printf '\n==> AWS cost of 1,000,000 delayed notifications (requests counted on moto, list prices)\n'
cargo test -q -p herald-tests --test herald lambda_handlers::cost_of -- --nocapture 2>&1 | grep '^cost: [^r]'
cargo test -q -p herald-tests --test herald delivery_aws::cost_of -- --nocapture 2>&1 | grep '^cost: [^r]'
kill "$pid" "$servers_pid" 2>/dev/null || true

printf '\n==> peers: BullMQ on Redis against Herald, the same workload in one run\n'
tests/peers/peers.sh

printf '\n==> a newcomer'"'"'s first start (fresh clone, empty target folder)\n'
tests/benches/first_start.sh
